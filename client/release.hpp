// Signed releases from the client's side: publish artifacts (uploading what the server
// lacks), fetch a release and check it against a trusted key, or check a directory offline.
#pragma once

#include "client/client.hpp"
#include "util/result.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ingot::sign {
struct PublicKey;
}

namespace ingot::client {

// Uploads the files the server lacks and publishes them under their base names. Returns the
// server's record (JSON). A version that exists is Errc::busy, unless it holds exactly these
// artifacts (a publish retried after its answer was lost): then its record is returned.
[[nodiscard]] Result<std::string> publish_files(Client& client, const std::string& project,
                                                const std::string& version,
                                                const std::vector<std::filesystem::path>& files);
// Publishes the files of the tree a ref names, under their paths in the tree. A tree with a
// symlink is refused, naming the first: SHA256SUMS lists regular files only.
[[nodiscard]] Result<std::string> publish_ref(Client& client, const std::string& project,
                                              const std::string& version, const std::string& ref);

struct VerifiedRelease {
  std::string trusted_comment; // as signed: timestamp, project, version and key ID
  std::size_t files = 0;
  std::uint64_t bytes = 0;
  std::optional<std::string> yank_reason; // set when a yanked release was fetched anyway
};

// Checks DIR offline: SHA256SUMS.minisig against `key`, SHA256.sig against `key` and against
// SHA256SUMS, then every listed file's SHA-256. Errc::corrupt lists every problem found;
// a signature by another key says which key it was.
[[nodiscard]] Result<VerifiedRelease> verify_release_dir(const std::filesystem::path& dir,
                                                         const sign::PublicKey& key);

enum class Yanked { refuse, allow };

// Downloads the signature files, checks them against `key` before anything else, downloads
// each listed artifact (verified against SHA256SUMS) into OUT, then verifies OUT as above. A
// yanked release is Errc::not_found naming the yank's reason, unless `yanked` allows it;
// nothing is written then.
[[nodiscard]] Result<VerifiedRelease> fetch_release(Client& client, const std::string& project,
                                                    const std::string& version,
                                                    const std::filesystem::path& out,
                                                    const sign::PublicKey& key,
                                                    Yanked yanked = Yanked::refuse);

} // namespace ingot::client
