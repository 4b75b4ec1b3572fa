#include "cas/gc_report.hpp"

#include <cstdint>
#include <exception>
#include <vector>

namespace ingot::cas {

namespace {

// A report as its first version wrote it, without nix; the nix bucket follows it.
constexpr std::size_t k_fields_without_nix = 15;
constexpr std::size_t k_fields = k_fields_without_nix + 2;

} // namespace

std::string encode_report(const GcReport& r) {
  std::string out;
  for (const auto v : {r.target, r.before, r.after, r.cas.entries, r.cas.bytes, r.ac.entries,
                       r.ac.bytes, r.kv.entries, r.kv.bytes, r.ref.entries, r.ref.bytes,
                       static_cast<std::uint64_t>(r.oldest_survivor_age_s.value_or(-1)),
                       static_cast<std::uint64_t>(r.duration_s * 1e6),
                       static_cast<std::uint64_t>(r.finished_unix_s),
                       static_cast<std::uint64_t>(r.target_reached), r.nix.entries, r.nix.bytes}) {
    out += std::to_string(v) + ' ';
  }
  return out;
}

std::optional<GcReport> decode_report(const std::string& text) {
  std::vector<std::uint64_t> v;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t used = 0;
    try {
      v.push_back(std::stoull(text.substr(pos), &used));
    } catch (const std::exception&) {
      return std::nullopt;
    }
    pos += used + 1;
  }
  // The last report of a data dir written before the nix namespace has none evicted from it.
  if (v.size() != k_fields && v.size() != k_fields_without_nix) {
    return std::nullopt;
  }
  GcReport r;
  r.target = v[0];
  r.before = v[1];
  r.after = v[2];
  r.cas = {v[3], v[4]};
  r.ac = {v[5], v[6]};
  r.kv = {v[7], v[8]};
  r.ref = {v[9], v[10]};
  if (static_cast<std::int64_t>(v[11]) >= 0) {
    r.oldest_survivor_age_s = static_cast<std::int64_t>(v[11]);
  }
  r.duration_s = static_cast<double>(v[12]) / 1e6;
  r.finished_unix_s = static_cast<std::int64_t>(v[13]);
  r.target_reached = v[14] != 0;
  if (v.size() == k_fields) {
    r.nix = {v[15], v[16]};
  }
  return r;
}

Evicted& bucket(GcReport& report, Namespace ns) {
  switch (ns) {
  case Namespace::ac:
    return report.ac;
  case Namespace::kv:
    return report.kv;
  case Namespace::ref:
    return report.ref;
  case Namespace::nix:
    break;
  }
  return report.nix;
}

} // namespace ingot::cas
