// Nix's .narinfo: what a binary cache says about one store path, and the signature a
// substituter checks before it downloads the nar (docs/nix-client-facts.md).
//
// The grammar is strict, as nix's own parser is: "Key: value\n" lines, LF only, no blank
// lines, each key at most once except Sig. Hashes are accepted in every spelling nix reads
// (sha256:<nix32>, sha256:<base16>, sha256:<base64>, SRI sha256-<base64>) and kept as
// "sha256:<nix32>", the one the signed fingerprint uses.
#pragma once

#include "sign/keys.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ingot::sign {

struct Narinfo {
  std::string store_path;  // "/nix/store/<hash32>-<name>"
  std::string url;         // as given: "nar/<file>" when nix wrote it
  std::string compression; // as given; empty when absent (nix then assumes bzip2)
  std::string file_hash;   // "sha256:<nix32>", or empty when absent
  std::optional<std::uint64_t> file_size;
  std::string nar_hash; // "sha256:<nix32>"
  std::uint64_t nar_size = 0;
  std::vector<std::string> references; // base names "<hash32>-<name>", in the order given
  std::string deriver;                 // base name, or empty
  std::string system;
  std::vector<std::string> sigs; // "keyname:base64", as given
  std::string ca;
  // Keys this parser does not know, kept in their order (nix ignores them too).
  std::vector<std::pair<std::string, std::string>> other;
};

// Errc::invalid_argument with a one-line reason naming the line ("line 4: NarSize is not a
// number"). Checks: the grammar; StorePath is an absolute store path whose base name is
// <32 nix32 chars>-<name>; URL non-empty; NarHash present and a sha256; NarSize present and
// above zero; FileHash a sha256 when present; each reference and the deriver a valid base name.
[[nodiscard]] Result<Narinfo> parse_narinfo(std::string_view text);

// The text nix would write, keys in nix's order, `sigs` as the Sig lines (one per element,
// in the order given), the other keys last. `References: ` keeps its trailing space when
// the list is empty.
std::string render_narinfo(const Narinfo& info, std::span<const std::string> sigs);

// "/nix/store" of "/nix/store/<hash32>-<name>".
std::string_view store_dir(std::string_view store_path);
// "<hash32>" of a store path or of a base name "<hash32>-<name>"; empty when it has none.
std::string_view hash_part(std::string_view path_or_base_name);
// A base name nix accepts: <32 nix32 chars>-<name>, the name 1..211 chars of
// [A-Za-z0-9+-._?=], not starting with '.'.
bool is_store_base_name(std::string_view base_name);

// What a Nix signature signs:
// "1;<StorePath>;<NarHash>;<NarSize>;<store dir>/<ref>,<store dir>/<ref>…" with the
// references as full paths, sorted (the self-reference included).
std::string narinfo_fingerprint(const Narinfo& info);
// "<key name>:<base64 of the Ed25519 signature of the fingerprint>": a Sig line's value.
std::string nix_signature(const SecretKey& key, std::string_view fingerprint);
// Whether `sig` ("name:base64") is `key`'s valid signature of `fingerprint`.
bool verify_nix_signature(const PublicKey& key, std::string_view fingerprint, std::string_view sig);
// A key as nix's trusted-public-keys lists it, "name:base64(32-byte Ed25519 key)" (what
// PublicKey::to_nix writes); the key ID is left zero, Nix has none.
[[nodiscard]] Result<PublicKey> parse_nix_public_key(std::string_view text);

} // namespace ingot::sign
