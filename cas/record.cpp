#include "cas/record.hpp"

#include <array>
#include <bit>
#include <cstring>

namespace ingot::cas {

namespace {

constexpr std::uint8_t k_blob_format = 1;
constexpr std::uint8_t k_entry_format = 1;
constexpr std::uint8_t k_usage_format_v1 = 1;
constexpr std::uint8_t k_usage_format = 3;
constexpr std::uint8_t k_flag_inline = 1;
// version, flags, codec, then size, stored_size, xxh3, created: 3 + 4 * 8 bytes.
constexpr std::size_t k_blob_header = 3 + 4 * 8;
constexpr std::size_t k_entry_size = 1 + 32 + 8 + 8;

// What each usage format holds, by its version byte: the first `fields` of k_usage_fields, the
// rest decoding as zero. Data dirs keep the formats their versions wrote (the last Put and the
// merge operands after it), so every format stays readable.
struct UsageFormat {
  std::size_t fields = 0; // 0: no such format
  // Whether the counters missing from it are known to be zero. Format 1 lacks file bytes and
  // the later counters: StoreImpl::migrate() recounts file bytes once. Format 2 lacks nix
  // entries, which are zero in it: no version that wrote format 2 had the nix namespace.
  bool complete = false;
};
constexpr std::array<UsageFormat, 4> k_usage_formats{{
    {},
    {5, false}, // format 1
    {11, true}, // format 2: through ref entries
    {12, true}, // format 3: nix entries
}};
static_assert(k_usage_formats.size() == k_usage_format + 1U &&
                  k_usage_formats[k_usage_format].fields == k_usage_fields.size(),
              "a counter appended to k_usage_fields needs a new usage format");
constexpr std::size_t k_usage_fields_v1 = k_usage_formats[k_usage_format_v1].fields;

// Little-endian fixed-width integers; x86-64 and aarch64 are little-endian, and the
// static_assert keeps a big-endian port from silently writing another format.
static_assert(std::endian::native == std::endian::little);

template <class T>
void put(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out.append(buf, sizeof(T));
}

template <class T>
T get(std::string_view in, std::size_t offset) {
  T v;
  std::memcpy(&v, in.data() + offset, sizeof(T));
  return v;
}

} // namespace

std::string encode_blob_value(const BlobRecord& record, ByteView inline_data) {
  std::string out;
  out.reserve(k_blob_header + inline_data.size());
  out.push_back(static_cast<char>(k_blob_format));
  out.push_back(static_cast<char>(record.is_inline ? k_flag_inline : 0));
  out.push_back(static_cast<char>(record.codec));
  put(out, record.size);
  put(out, record.stored_size);
  put(out, record.xxh3);
  put(out, record.created_unix_s);
  out.append(as_chars(inline_data));
  return out;
}

std::optional<BlobRecord> decode_blob_value(std::string_view value, std::string_view* inline_data) {
  if (value.size() < k_blob_header || static_cast<std::uint8_t>(value[0]) != k_blob_format) {
    return std::nullopt;
  }
  BlobRecord r;
  r.is_inline = (static_cast<std::uint8_t>(value[1]) & k_flag_inline) != 0;
  const auto codec = static_cast<std::uint8_t>(value[2]);
  if (codec > static_cast<std::uint8_t>(Codec::zstd)) {
    return std::nullopt;
  }
  r.codec = static_cast<Codec>(codec);
  r.size = get<std::uint64_t>(value, 3);
  r.stored_size = get<std::uint64_t>(value, 11);
  r.xxh3 = get<std::uint64_t>(value, 19);
  r.created_unix_s = get<std::int64_t>(value, 27);
  const std::string_view data = value.substr(k_blob_header);
  if (r.is_inline && data.size() != r.stored_size) {
    return std::nullopt;
  }
  if (inline_data != nullptr) {
    *inline_data = data;
  }
  return r;
}

std::string encode_entry(const Entry& entry) {
  std::string out;
  out.reserve(k_entry_size);
  out.push_back(static_cast<char>(k_entry_format));
  out.append(as_chars(entry.value.hash));
  put(out, entry.value.size);
  put(out, entry.updated_unix_ms);
  return out;
}

std::optional<Entry> decode_entry(std::string_view value) {
  if (value.size() < k_entry_size || static_cast<std::uint8_t>(value[0]) != k_entry_format) {
    return std::nullopt;
  }
  Entry e;
  std::memcpy(e.value.hash.data(), value.data() + 1, 32);
  e.value.size = get<std::uint64_t>(value, 33);
  e.updated_unix_ms = get<std::int64_t>(value, 41);
  return e;
}

// The counters in their encoded order (k_usage_fields).
template <class D>
auto usage_fields(D& d) {
  std::array<decltype(&d.blobs), k_usage_fields.size()> out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = &(d.*k_usage_fields[i].member);
  }
  return out;
}

std::string encode_usage(const UsageDelta& d) {
  std::string out;
  out.reserve(1 + k_usage_fields.size() * 8);
  out.push_back(static_cast<char>(d.complete ? k_usage_format : k_usage_format_v1));
  const auto fields = usage_fields(d);
  const std::size_t count = d.complete ? k_usage_fields.size() : k_usage_fields_v1;
  for (std::size_t i = 0; i < count; ++i) {
    put(out, *fields[i]);
  }
  return out;
}

std::optional<UsageDelta> decode_usage(std::string_view value) {
  if (value.empty()) {
    return std::nullopt;
  }
  const auto version = static_cast<std::uint8_t>(value[0]);
  if (version >= k_usage_formats.size()) {
    return std::nullopt;
  }
  const UsageFormat& format = k_usage_formats[version];
  const std::size_t count = format.fields;
  if (count == 0 || value.size() < 1 + count * 8) {
    return std::nullopt;
  }
  UsageDelta d;
  d.complete = format.complete;
  const auto fields = usage_fields(d);
  for (std::size_t i = 0; i < count; ++i) {
    *fields[i] = get<std::int64_t>(value, 1 + i * 8);
  }
  return d;
}

UsageDelta add(const UsageDelta& a, const UsageDelta& b) {
  UsageDelta sum = a;
  const auto out = usage_fields(sum);
  const auto in = usage_fields(b);
  for (std::size_t i = 0; i < out.size(); ++i) {
    *out[i] += *in[i];
  }
  // A sum is only as complete as its parts: a format 1 total lacks the newer counters.
  sum.complete = a.complete && b.complete;
  return sum;
}

std::int64_t& entries_field(UsageDelta& delta, Namespace ns) {
  switch (ns) {
  case Namespace::ac:
    return delta.ac_entries;
  case Namespace::kv:
    return delta.kv_entries;
  case Namespace::ref:
    return delta.ref_entries;
  case Namespace::nix:
    break;
  }
  return delta.nix_entries;
}

bool is_zero(const UsageDelta& d) {
  for (const auto* field : usage_fields(d)) {
    if (*field != 0) {
      return false;
    }
  }
  return true;
}

} // namespace ingot::cas
