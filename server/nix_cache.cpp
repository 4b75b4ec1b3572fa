#include "server/nix_cache.hpp"

#include "sign/narinfo.hpp"
#include "util/nix32.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

namespace ingot::server {

namespace {

constexpr std::string_view k_store_dir = "/nix/store";

// Signed narinfos kept in memory, by path, each with the digest of the stored record it was
// made from: signing costs more than the rest of a GET, and the stored bytes of a digest never
// change. Cleared when full, which only costs a re-sign.
constexpr std::size_t k_memo_entries = 1 << 16;
constexpr std::size_t k_memo_bytes = 64u << 20;
// A narinfo is a few hundred bytes; thousands of references stay under 1 MiB. Bounds what a
// PUT makes the server parse, look up (one lookup per reference) and keep in memory.
constexpr std::size_t k_max_narinfo = 1u << 20;
// How long a memoised narinfo is served without reading its entry again: a path hit
// thousands of times a second costs one entry lookup a second, not one per GET (the nar's
// presence is still checked on every GET).
constexpr std::chrono::seconds k_memo_recheck{1};

// Lookups by string_view in a map keyed by std::string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

Error conflict(std::string message) {
  return make_error(Errc::conflict, std::move(message));
}

std::string_view sig_key_name(std::string_view sig) {
  return sig.substr(0, sig.find(':'));
}

} // namespace

bool is_nix_hash32(std::string_view text) {
  return text.size() == nix32_length(20) && nix32_decode(text, 20).has_value();
}

std::string narinfo_key(std::string_view hash32) {
  return std::string(hash32) + ".narinfo";
}

struct NixCache::Parsed {
  cas::Hash record;               // the stored narinfo's blob
  std::optional<cas::Digest> nar; // what its URL's entry named when it was loaded
  sign::Narinfo info;
  std::string text; // signed, as served
};

struct NixCache::Memo {
  struct Signed {
    std::shared_ptr<const Parsed> parsed;
    // When the path's narinfo entry was last seen naming parsed->record. A PUT replaces the
    // memo's entry at once; an entry GC dropped is noticed within k_memo_recheck.
    std::chrono::steady_clock::time_point checked;
  };
  std::mutex mutex;
  std::unordered_map<std::string, Signed, StringHash, std::equal_to<>> by_path;
  std::size_t bytes = 0;        // about what by_path holds: each text and its parsed fields
  std::uint64_t generation = 0; // PUTs so far
};

NixCache::NixCache(cas::Store& store, std::span<const sign::SecretKey> keys, unsigned priority)
    : m_store(store), m_keys(keys), m_priority(priority), m_memo(std::make_unique<Memo>()) {}

NixCache::~NixCache() = default;

std::string NixCache::cache_info() const {
  return "StoreDir: " + std::string(k_store_dir) +
         "\nWantMassQuery: 1\nPriority: " + std::to_string(m_priority) + "\n";
}

Result<void> NixCache::put_narinfo(std::string_view hash32, std::string_view text) {
  if (text.size() > k_max_narinfo) {
    return make_error(Errc::too_large, "narinfo of " + std::to_string(text.size()) +
                                           " bytes is over the limit of " +
                                           std::to_string(k_max_narinfo) + " bytes");
  }
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
  if (!nar && nar.error().code != Errc::not_found) {
    return std::move(nar).error();
  }
  auto nar_stored = nar ? stored(nar->value.hash) : Result<bool>(false);
  if (!nar_stored) {
    return std::move(nar_stored).error();
  }
  if (!*nar_stored) {
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
  // A path's narinfo is written once, as on every binary cache: a second upload may add
  // signatures or name another nar with the same contents, but not say the path is other
  // bytes (a write token must not be able to swap what the server signs). One whose nar is
  // gone may be replaced: it is not served.
  // What is compared is what the server signs (NarHash, NarSize, references): a narinfo
  // saying a path has no references would have substituters register it without them. A
  // record that no longer parses is replaced: this upload repairs it.
  if (auto existing = load(hash32); existing) {
    if (sign::narinfo_fingerprint((*existing)->info) != sign::narinfo_fingerprint(*info)) {
      auto served = stored_nar(**existing, hash32);
      if (served) {
        return conflict("narinfo: " + info->store_path +
                        " is already cached with another NarHash, NarSize or References; a "
                        "path's narinfo is not replaced");
      }
      if (served.error().code != Errc::not_found) {
        return std::move(served).error();
      }
    }
  } else if (existing.error().code != Errc::not_found && existing.error().code != Errc::corrupt) {
    return std::move(existing).error();
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
  std::lock_guard lock(m_memo->mutex);
  m_memo->by_path.erase(std::string(hash32)); // served as stored from the next GET on
  ++m_memo->generation; // and no GET that read the entry before may memoise what it read
  return {};
}

Result<bool> NixCache::stored(const cas::Hash& hash) {
  auto info = m_store.stat(hash); // counts as a use
  if (info) {
    return true;
  }
  if (info.error().code == Errc::not_found) {
    return false;
  }
  return std::move(info).error(); // Errc::would_block too: from memory, "absent" proves nothing
}

Result<std::shared_ptr<const NixCache::Parsed>> NixCache::load(std::string_view hash32) {
  const auto now = std::chrono::steady_clock::now();
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(m_memo->mutex);
    generation = m_memo->generation;
    if (const auto it = m_memo->by_path.find(hash32);
        it != m_memo->by_path.end() && now - it->second.checked < k_memo_recheck) {
      m_store.touch(it->second.parsed->record);
      return it->second.parsed;
    }
  }
  auto entry = m_store.ns_get(cas::Namespace::nix, narinfo_key(hash32));
  if (!entry) {
    return std::move(entry).error();
  }
  const cas::Hash record = entry->value.hash;
  {
    std::lock_guard lock(m_memo->mutex);
    if (const auto it = m_memo->by_path.find(hash32);
        it != m_memo->by_path.end() && it->second.parsed->record == record) {
      it->second.checked = now;
      m_store.touch(record); // the entry names it: stored, or evicted a moment ago
      return it->second.parsed;
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
  auto nar = m_store.ns_get(cas::Namespace::nix, info->url);
  if (!nar && nar.error().code != Errc::not_found) {
    return std::move(nar).error();
  }
  std::vector<std::string> sigs;
  if (!m_keys.empty()) {
    const auto fingerprint = sign::narinfo_fingerprint(*info);
    for (const auto& key : m_keys) {
      sigs.push_back(sign::nix_signature(key, fingerprint));
    }
  }
  // The client's signatures follow, but none under a name the server signs with: what a
  // key of that name signs is the server's to say.
  for (const auto& sig : info->sigs) {
    const bool servers_name = std::any_of(m_keys.begin(), m_keys.end(), [&](const auto& key) {
      return key.public_key().name == sig_key_name(sig);
    });
    if (!servers_name && std::find(sigs.begin(), sigs.end(), sig) == sigs.end()) {
      sigs.push_back(sig);
    }
  }
  auto parsed = std::make_shared<Parsed>();
  parsed->record = record;
  parsed->text = sign::render_narinfo(*info, sigs);
  parsed->info = std::move(*info);
  if (nar) {
    parsed->nar = nar->value;
  }
  std::lock_guard lock(m_memo->mutex);
  if (m_memo->generation != generation) {
    return std::shared_ptr<const Parsed>(std::move(parsed)); // a PUT since: maybe stale
  }
  const std::size_t bytes = 2 * parsed->text.size();
  if (m_memo->by_path.size() >= k_memo_entries || m_memo->bytes + bytes > k_memo_bytes) {
    m_memo->by_path.clear();
    m_memo->bytes = 0;
  }
  if (const auto it = m_memo->by_path.find(hash32); it != m_memo->by_path.end()) {
    m_memo->bytes -= std::min(m_memo->bytes, 2 * it->second.parsed->text.size());
  }
  m_memo->bytes += bytes;
  m_memo->by_path.insert_or_assign(std::string(hash32), Memo::Signed{parsed, now});
  return std::shared_ptr<const Parsed>(std::move(parsed));
}

Result<cas::Digest> NixCache::stored_nar(const Parsed& parsed, std::string_view hash32) {
  // The nar its entry named when the narinfo was loaded: one lookup on the hot path.
  if (parsed.nar) {
    auto here = stored(parsed.nar->hash);
    if (!here) {
      return std::move(here).error();
    }
    if (*here) {
      return *parsed.nar;
    }
  }
  // Gone, or not stored then: the entry may name another upload of it now.
  auto nar = m_store.ns_get(cas::Namespace::nix, parsed.info.url);
  if (!nar && nar.error().code != Errc::not_found) {
    return std::move(nar).error();
  }
  if (nar && (!parsed.nar || nar->value != *parsed.nar)) {
    auto here = stored(nar->value.hash);
    if (!here) {
      return std::move(here).error();
    }
    if (*here) {
      return nar->value;
    }
  }
  return make_error(Errc::not_found, "the nar of " + std::string(hash32) + " (" + parsed.info.url +
                                         ") is no longer stored");
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
