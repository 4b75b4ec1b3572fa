// The files of a signed release, as stock tools read them: SHA256SUMS (`sha256sum -c`), its
// minisign signature, and SHA256.sig (`signify -C`). Built by the server, checked by the
// client; both sides use these, so the formats are written down once.
#pragma once

#include "cas/digest.hpp"
#include "sign/keys.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ingot::sign {

inline constexpr std::string_view k_sums_file = "SHA256SUMS";
inline constexpr std::string_view k_minisig_file = "SHA256SUMS.minisig";
inline constexpr std::string_view k_signify_file = "SHA256.sig";

struct Artifact {
  std::string name; // a relative path: components of [A-Za-z0-9._+-], none "." or ".."
  cas::Digest digest;
};

// Project and version names: 1-128 characters of [A-Za-z0-9._+-], starting with a letter or
// digit. Errc::invalid_argument saying what is wrong, naming `what` ("project", "version").
[[nodiscard]] Result<void> check_release_name(std::string_view name, std::string_view what);
// Artifact names: as Artifact::name says, at most 1024 bytes, and none of the three
// signature files' names (they sit beside the artifacts).
[[nodiscard]] Result<void> check_artifact_name(std::string_view name);

// "<hex>  <name>\n" per artifact, sorted by name: `sha256sum -c SHA256SUMS`.
std::string sha256sums(std::vector<Artifact> artifacts);
// "SHA256 (<name>) = <hex>\n" per artifact, sorted by name: the message of SHA256.sig.
std::string bsd_checksums(std::vector<Artifact> artifacts);

struct ListedFile {
  std::string name;
  cas::Hash hash{};
};
// Parses either format back; Errc::invalid_argument naming the line that is malformed or
// holds an unsafe name.
[[nodiscard]] Result<std::vector<ListedFile>> parse_sha256sums(std::string_view text);
[[nodiscard]] Result<std::vector<ListedFile>> parse_bsd_checksums(std::string_view text);

// "timestamp:<unix>\tproject:<P>\tversion:<V>\tkey:<ID>": what minisign -V prints as trusted.
std::string release_trusted_comment(std::string_view project, std::string_view version,
                                    std::int64_t unix_time, const PublicKey& key);

} // namespace ingot::sign
