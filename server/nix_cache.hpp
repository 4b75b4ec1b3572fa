// The Nix binary cache's records over the store (ARCHITECTURE.md "HTTP API", /nix/…): what a
// narinfo PUT must satisfy, what a narinfo GET answers, and a store path's closure. Every
// record is a blob named by an entry of the `nix` namespace whose key is its path below /nix/
// ("<hash32>.narinfo", "nar/<file>", "<hash32>.ls", "log/<drv>", "realisations/<id>.doi"),
// so identical bytes are stored once and GC evicts them like any other entry.
//
// Narinfos are stored as the client sent them and signed when served, by every configured key
// (the first is the active one; the others keep clients that trust a retired key working
// during a rotation): a new key signs everything already stored, with no record rewritten.
// Protocol facts: docs/nix-client-facts.md.
#pragma once

#include "cas/store.hpp"
#include "sign/keys.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ingot::server {

// A store path's hash part: 32 characters of nix32.
bool is_nix_hash32(std::string_view text);

// The entry key of a path's narinfo.
std::string narinfo_key(std::string_view hash32);

struct NarinfoAnswer {
  std::string text; // the narinfo with the server's Sig lines first, then the client's
  cas::Digest nar;  // the blob its URL names, which the caller serves next
};

class NixCache {
public:
  // `keys` sign served narinfos (none: served with the client's signatures only). They must
  // outlive the cache.
  NixCache(cas::Store& store, std::span<const sign::SecretKey> keys, unsigned priority);
  ~NixCache();
  NixCache(const NixCache&) = delete;
  NixCache& operator=(const NixCache&) = delete;

  // GET /nix/nix-cache-info.
  std::string cache_info() const;

  // A narinfo PUT: Errc::invalid_argument (400) when it does not parse, its StorePath is not
  // the path the URL names or a Sig is malformed; Errc::too_large (413) over 1 MiB;
  // Errc::conflict (409) when its URL names a nar not stored here, a reference other than
  // itself has no narinfo here, or the path is cached already (and served) with another
  // NarHash, NarSize or references. Readable once this returns.
  [[nodiscard]] Result<void> put_narinfo(std::string_view hash32, std::string_view text);

  // The signed narinfo of a path, while its nar is stored: Errc::not_found otherwise (its
  // record stays until GC evicts it: a push of the path stores it again). Reading it counts
  // as a use of the narinfo and of its nar, so a path substituted often stays cached whole.
  // The nar is looked for on every call; the narinfo's own entry at most once a second per
  // path (a narinfo GC just evicted may be served for that second; a PUT shows at once).
  [[nodiscard]] Result<NarinfoAnswer> get_narinfo(std::string_view hash32);

  // Every blob of a path's closure: its narinfo and nar and those of every path it
  // references, transitively. Errc::not_found naming the first path that is incomplete.
  [[nodiscard]] Result<std::vector<cas::Hash>> closure(std::string_view hash32);

private:
  struct Parsed;
  // The parsed and signed narinfo of a path (Errc::not_found without one).
  [[nodiscard]] Result<std::shared_ptr<const Parsed>> load(std::string_view hash32);
  // Whether a blob is stored; counts as a use of it.
  [[nodiscard]] Result<bool> stored(const cas::Hash& hash);
  // The nar a narinfo names, when it is stored (Errc::not_found otherwise).
  [[nodiscard]] Result<cas::Digest> stored_nar(const Parsed& parsed, std::string_view hash32);

  struct Memo;
  cas::Store& m_store;
  std::span<const sign::SecretKey> m_keys;
  unsigned m_priority;
  std::unique_ptr<Memo> m_memo;
};

// fsck's pass over the Nix cache (server/nix_fsck.cpp), after the store's own: every narinfo
// must parse, name the path its key names and have its nar stored. With Repair::yes, the
// narinfos that fail are dropped (a push stores them again). Findings go into `report`.
[[nodiscard]] Result<void> fsck_nix(cas::Store& store, cas::Repair repair, cas::FsckReport& report);

// The pin set that keeps a pinned store path's closure (`ingot nix pin`).
inline std::string nix_pin_name(std::string_view hash32) {
  return "nix/" + std::string(hash32);
}

} // namespace ingot::server
