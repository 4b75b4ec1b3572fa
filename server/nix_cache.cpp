#include "server/nix_cache.hpp"

#include "sign/narinfo.hpp"
#include "util/nix32.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <set>

namespace ingot::server {

namespace {

constexpr std::string_view k_store_dir = "/nix/store";

// Signed narinfos kept in memory, by the digest of the stored record: signing costs more than
// the rest of a GET, and the stored bytes of a digest never change. Cleared when full, which
// only costs a re-sign.
constexpr std::size_t k_memo_entries = 1 << 16;

Error conflict(std::string message) {
  return make_error(Errc::conflict, std::move(message));
}

} // namespace

bool is_nix_hash32(std::string_view text) {
  return text.size() == nix32_length(20) && nix32_decode(text, 20).has_value();
}

std::string narinfo_key(std::string_view hash32) {
  return std::string(hash32) + ".narinfo";
}

struct NixCache::Parsed {
  cas::Hash record; // the stored narinfo's blob
  sign::Narinfo info;
  std::string text; // signed, as served
};

struct NixCache::Memo {
  std::mutex mutex;
  std::map<cas::Hash, std::shared_ptr<const Parsed>> by_record;
};

NixCache::NixCache(cas::Store& store, std::span<const sign::SecretKey> keys, unsigned priority)
    : m_store(store), m_keys(keys), m_priority(priority), m_memo(std::make_unique<Memo>()) {}

NixCache::~NixCache() = default;

std::string NixCache::cache_info() const {
  return "StoreDir: " + std::string(k_store_dir) +
         "\nWantMassQuery: 1\nPriority: " + std::to_string(m_priority) + "\n";
}

Result<void> NixCache::put_narinfo(std::string_view hash32, std::string_view text) {
  auto info = sign::parse_narinfo(text);
  if (!info) {
    return make_error(Errc::invalid_argument, "narinfo: " + info.error().message);
  }
  if (sign::store_dir(info->store_path) != k_store_dir) {
    return make_error(Errc::invalid_argument, "narinfo: StorePath " + info->store_path +
                                                  " is not in " + std::string(k_store_dir) +
                                                  ", the only store this cache serves");
  }
  if (sign::hash_part(info->store_path) != hash32) {
    return make_error(Errc::invalid_argument, "narinfo: StorePath " + info->store_path +
                                                  " is not the path " + std::string(hash32) +
                                                  ".narinfo names");
  }
  if (!info->url.starts_with("nar/")) {
    return make_error(Errc::invalid_argument,
                      "narinfo: URL " + info->url + " is not a nar of this cache (nar/<file>)");
  }
  auto nar = m_store.ns_get(cas::Namespace::nix, info->url);
  if (!nar || !m_store.contains(nar->value.hash)) {
    if (!nar && nar.error().code != Errc::not_found) {
      return std::move(nar).error();
    }
    return conflict("narinfo: its URL " + info->url + " is not stored here; PUT the nar first");
  }
  for (const auto& reference : info->references) {
    const auto part = sign::hash_part(reference);
    if (part == hash32) {
      continue; // a path may refer to itself
    }
    auto entry = m_store.ns_get(cas::Namespace::nix, narinfo_key(part));
    if (!entry) {
      if (entry.error().code != Errc::not_found) {
        return std::move(entry).error();
      }
      return conflict("narinfo: its reference " + reference +
                      " has no narinfo here; push the closure in order, references first");
    }
  }
  auto record = m_store.put(as_bytes(text));
  if (!record) {
    return std::move(record).error();
  }
  if (auto r = m_store.ns_put(cas::Namespace::nix, narinfo_key(hash32), *record); !r) {
    if (r.error().code == Errc::not_found) {
      return make_error(Errc::busy, "the narinfo was evicted before its entry was written; retry");
    }
    return r;
  }
  return {};
}

Result<std::shared_ptr<const NixCache::Parsed>> NixCache::load(std::string_view hash32) {
  auto entry = m_store.ns_get(cas::Namespace::nix, narinfo_key(hash32));
  if (!entry) {
    return std::move(entry).error();
  }
  const cas::Hash record = entry->value.hash;
  {
    std::lock_guard lock(m_memo->mutex);
    if (const auto it = m_memo->by_record.find(record); it != m_memo->by_record.end()) {
      if (!m_store.contains(record)) { // counts the read as a use; gone: evicted since
        return make_error(Errc::not_found, "no narinfo for " + std::string(hash32));
      }
      return it->second;
    }
  }
  auto text = m_store.get(record); // a use of the record too
  if (!text) {
    return std::move(text).error();
  }
  auto info = sign::parse_narinfo(*text);
  if (!info) {
    // It parsed when it was stored: the record is damaged.
    return make_error(Errc::corrupt, "stored narinfo " + std::string(hash32) +
                                         " no longer parses (" + info.error().message +
                                         "); run `ingot fsck`");
  }
  auto parsed = std::make_shared<Parsed>();
  std::vector<std::string> sigs;
  if (!m_keys.empty()) {
    const auto fingerprint = sign::narinfo_fingerprint(*info);
    for (const auto& key : m_keys) {
      sigs.push_back(sign::nix_signature(key, fingerprint));
    }
  }
  for (const auto& sig : info->sigs) {
    if (std::find(sigs.begin(), sigs.end(), sig) == sigs.end()) {
      sigs.push_back(sig);
    }
  }
  parsed->record = record;
  parsed->text = sign::render_narinfo(*info, sigs);
  parsed->info = std::move(*info);
  std::lock_guard lock(m_memo->mutex);
  if (m_memo->by_record.size() >= k_memo_entries) {
    m_memo->by_record.clear();
  }
  m_memo->by_record.emplace(record, parsed);
  return std::shared_ptr<const Parsed>(std::move(parsed));
}

Result<cas::Digest> NixCache::stored_nar(const Parsed& parsed, std::string_view hash32) {
  auto nar = m_store.ns_get(cas::Namespace::nix, parsed.info.url);
  if (!nar && nar.error().code != Errc::not_found) {
    return std::move(nar).error();
  }
  if (!nar || !m_store.contains(nar->value.hash)) { // counts as a use of the nar
    return make_error(Errc::not_found, "the nar of " + std::string(hash32) + " (" +
                                           parsed.info.url + ") is no longer stored");
  }
  return nar->value;
}

Result<NarinfoAnswer> NixCache::get_narinfo(std::string_view hash32) {
  auto parsed = load(hash32);
  if (!parsed) {
    return std::move(parsed).error();
  }
  // Completeness, as for /ac: a narinfo is a hit only while the nar it names is stored. A
  // hit refreshes the nar with its narinfo, so a path substituted often stays cached whole.
  auto nar = stored_nar(**parsed, hash32);
  if (!nar) {
    return std::move(nar).error();
  }
  return NarinfoAnswer{(*parsed)->text, *nar};
}

Result<std::vector<cas::Hash>> NixCache::closure(std::string_view hash32) {
  std::vector<cas::Hash> blobs;
  std::set<std::string, std::less<>> seen{std::string(hash32)};
  std::deque<std::string> queue{std::string(hash32)};
  while (!queue.empty()) {
    const std::string path = std::move(queue.front());
    queue.pop_front();
    auto parsed = load(path);
    auto nar = parsed ? stored_nar(**parsed, path) : Result<cas::Digest>(parsed.error());
    if (!nar) {
      if (nar.error().code != Errc::not_found) {
        return std::move(nar).error();
      }
      return make_error(Errc::not_found, std::string(k_store_dir) + "/" + path +
                                             "-… is not stored here whole (" + nar.error().message +
                                             "); push it again with `nix copy --to`");
    }
    blobs.push_back((*parsed)->record);
    blobs.push_back(nar->hash);
    for (const auto& reference : (*parsed)->info.references) {
      const auto part = sign::hash_part(reference);
      if (seen.emplace(part).second) {
        queue.emplace_back(part);
      }
    }
  }
  return blobs;
}

} // namespace ingot::server
