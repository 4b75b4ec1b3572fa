// Build trees on the local side: a directory read into REAPI v2 `Directory` messages, and a
// `Tree` from the server checked and laid out as the paths to create. No network here.
#pragma once

#include "cas/digest.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ingot::client {

struct TreeFile {
  std::string path; // relative to the tree's root, '/'-separated, never empty
  cas::Digest digest;
  bool executable = false;
};

struct TreeSymlink {
  std::string path;
  std::string target; // as stored: relative or absolute, not resolved
};

// A local directory as a Merkle tree, ready to upload.
struct LocalTree {
  cas::Digest root;
  // Every distinct Directory message (the root included), canonically serialized, with its
  // digest, children before parents and the root last. Identical subdirectories appear once.
  std::vector<std::pair<cas::Digest, std::string>> directories;
  std::vector<TreeFile> files; // every regular file, the same content possibly several times
  std::uint64_t file_bytes = 0;
  std::size_t symlinks = 0;
};

enum class EscapingSymlinks { refuse, allow };

// The one rule for symlinks, on both sides (scan_tree before a push, plan_tree before a pull):
// a symlink `depth` directories below the root stays inside the tree unless its target is
// absolute, or its ".." climbs above the root or comes after a name. Errc::invalid_argument
// names `path`, the target, why, and the flag that allows it.
[[nodiscard]] Result<void> check_symlink_inside(std::string_view path, std::string_view target,
                                                std::size_t depth);

// Reads `dir` into canonical Directory messages (REAPI: entries sorted by name; files with
// digest and executable bit; subdirectories by digest; symlinks with their target, never
// followed). File contents are hashed on up to `threads` threads. Anything other than regular
// files, directories and symlinks (sockets, devices, fifos) is an error naming its path, and
// so, unless allowed, is a symlink leading out of the tree (check_symlink_inside).
[[nodiscard]] Result<LocalTree> scan_tree(const std::filesystem::path& dir, unsigned threads,
                                          EscapingSymlinks symlinks = EscapingSymlinks::refuse);

// A server's Tree, checked, as the paths to create under a destination.
struct TreePlan {
  std::vector<std::string> directories; // relative paths, parents before children, root omitted
  std::vector<TreeFile> files;
  std::vector<TreeSymlink> symlinks;
  std::uint64_t file_bytes = 0;
};

// Parses a serialized REAPI `Tree` whose root must hash to `root`, and every subdirectory it
// names to a child the message holds. Refuses names that are empty, ".", "..", or contain '/'
// or NUL; the same name twice in one directory; and, unless allowed, symlinks that are
// absolute or lead out of the tree. Errors name the offending path.
[[nodiscard]] Result<TreePlan> plan_tree(std::string_view tree_message, const cas::Digest& root,
                                         EscapingSymlinks symlinks);

} // namespace ingot::client
