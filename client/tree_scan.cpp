// scan_tree: a local directory read into canonical REAPI Directory messages. The walk lists
// every directory first, then hashes the files on several threads, then builds the messages
// from the deepest directories up, since a parent names its subdirectories by digest.
#include "client/parallel.hpp"
#include "client/tree.hpp"
#include "client/tree_canonical.hpp"
#include "util/file_io.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <unordered_set>

namespace ingot::client {

namespace {

namespace fs = std::filesystem;

// Files are hashed through a buffer of at most this size, never read whole into memory.
constexpr std::size_t k_read_buffer = 1u << 20;

// One directory as listed, before its files are hashed.
struct ListedDir {
  std::string path;                                          // relative, "" for the root
  std::vector<std::pair<std::string, std::size_t>> files;    // name, index into LocalTree::files
  std::vector<std::pair<std::string, std::size_t>> subdirs;  // name, index into the listing
  std::vector<std::pair<std::string, std::string>> symlinks; // name, target
};

std::string join(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "/" + name;
}

const char* kind_of(fs::file_type type) {
  switch (type) {
  case fs::file_type::fifo:
    return "a fifo";
  case fs::file_type::socket:
    return "a socket";
  case fs::file_type::block:
    return "a block device";
  case fs::file_type::character:
    return "a character device";
  default:
    return "neither a file, a directory nor a symlink";
  }
}

Error unsupported(const fs::path& path, const char* kind) {
  return make_error(Errc::invalid_argument,
                    path.string() + " is " + kind +
                        "; a tree holds only regular files, directories and symlinks: move it "
                        "out of the directory");
}

// Lists `root` breadth first: a directory always comes before those it contains.
Result<std::vector<ListedDir>> list_tree(const fs::path& root, LocalTree& tree,
                                         EscapingSymlinks symlinks) {
  std::vector<ListedDir> dirs(1);
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    const std::string rel = dirs[i].path; // copied: `dirs` grows below
    const std::size_t depth =
        rel.empty() ? 0 : 1 + static_cast<std::size_t>(std::count(rel.begin(), rel.end(), '/'));
    const fs::path abs = rel.empty() ? root : root / rel;
    std::error_code ec;
    fs::directory_iterator it(abs, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
      const fs::path& entry = it->path();
      std::string name = entry.filename().native();
      const auto status = it->symlink_status(ec);
      if (ec) {
        return errno_error(ec.value(), "cannot stat " + entry.string());
      }
      switch (status.type()) {
      case fs::file_type::regular:
        dirs[i].files.emplace_back(name, tree.files.size());
        tree.files.push_back(TreeFile{join(rel, name), {}, false});
        break;
      case fs::file_type::directory:
        dirs[i].subdirs.emplace_back(name, dirs.size());
        dirs.push_back(ListedDir{join(rel, name), {}, {}, {}});
        break;
      case fs::file_type::symlink: {
        // Never followed: the target is kept byte for byte, dangling or not.
        auto target = fs::read_symlink(entry, ec);
        if (ec) {
          return errno_error(ec.value(), "cannot read symlink " + entry.string());
        }
        if (symlinks == EscapingSymlinks::refuse) {
          INGOT_TRY(check_symlink_inside(join(rel, name), target.native(), depth));
        }
        dirs[i].symlinks.emplace_back(std::move(name), target.native());
        ++tree.symlinks;
        break;
      }
      default:
        return unsupported(entry, kind_of(status.type()));
      }
    }
    if (ec) {
      return errno_error(ec.value(), "cannot list " + abs.string());
    }
  }
  return dirs;
}

// Sets the digest and the executable bit of `file` from what is on disk now.
Result<void> hash_file(const fs::path& root, TreeFile& file) {
  const fs::path abs = root / file.path;
  // O_NOFOLLOW and O_NONBLOCK: an entry swapped for a symlink or a fifo since it was listed
  // is refused below rather than followed or waited on.
  auto fd = open_file(abs, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  if (!fd) {
    return std::move(fd).error(); // it names the path
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) {
    return errno_error(errno, "cannot stat " + abs.string());
  }
  if (!S_ISREG(st.st_mode)) {
    return unsupported(abs, "no longer a regular file");
  }
  // REAPI has one executable bit; the owner's is the one that says the file is meant to run.
  file.executable = (st.st_mode & S_IXUSR) != 0;
  std::vector<std::uint8_t> buffer(
      std::clamp<std::size_t>(static_cast<std::size_t>(st.st_size), 1, k_read_buffer));
  cas::Sha256 sha;
  for (;;) {
    const ssize_t n = ::read(fd->get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno_error(errno, "cannot read " + abs.string());
    }
    if (n == 0) {
      break;
    }
    sha.update(ByteView(buffer.data(), static_cast<std::size_t>(n)));
  }
  file.digest = sha.finish();
  return {};
}

template <class Node>
void sort_by_name(google::protobuf::RepeatedPtrField<Node>& nodes) {
  std::sort(nodes.begin(), nodes.end(),
            [](const Node& a, const Node& b) { return a.name() < b.name(); });
}

} // namespace

Result<LocalTree> scan_tree(const std::filesystem::path& dir, unsigned threads,
                            EscapingSymlinks symlinks) {
  std::error_code ec;
  const auto status = fs::status(dir, ec);
  if (status.type() == fs::file_type::not_found) {
    return make_error(Errc::not_found, "cannot scan " + dir.string() + ": it does not exist");
  }
  if (ec) {
    return errno_error(ec.value(), "cannot scan " + dir.string());
  }
  if (!fs::is_directory(status)) {
    return make_error(Errc::invalid_argument,
                      "cannot scan " + dir.string() + ": it is not a directory");
  }

  LocalTree tree;
  auto listed = list_tree(dir, tree, symlinks);
  if (!listed) {
    return std::move(listed).error();
  }
  INGOT_TRY(parallel_for(tree.files.size(), threads,
                         [&](std::size_t i) { return hash_file(dir, tree.files[i]); }));
  for (const auto& f : tree.files) {
    tree.file_bytes += f.digest.size;
  }

  // Deepest first, so that every subdirectory's digest is known before its parent is built.
  std::vector<cas::Digest> digests(listed->size());
  std::unordered_set<cas::Hash> seen;
  for (std::size_t i = listed->size(); i-- > 0;) {
    const ListedDir& d = (*listed)[i];
    reapi::Directory msg;
    for (const auto& [name, index] : d.files) {
      auto* node = msg.add_files();
      node->set_name(name);
      set_digest(*node->mutable_digest(), tree.files[index].digest);
      node->set_is_executable(tree.files[index].executable);
    }
    for (const auto& [name, index] : d.subdirs) {
      auto* node = msg.add_directories();
      node->set_name(name);
      set_digest(*node->mutable_digest(), digests[index]);
    }
    for (const auto& [name, target] : d.symlinks) {
      auto* node = msg.add_symlinks();
      node->set_name(name);
      node->set_target(target);
    }
    // REAPI: each list sorted by name, byte for byte. Names are unique within a directory on
    // disk, so the order is total.
    sort_by_name(*msg.mutable_files());
    sort_by_name(*msg.mutable_directories());
    sort_by_name(*msg.mutable_symlinks());
    std::string bytes = canonical_bytes(msg);
    digests[i] = cas::digest_of(bytes);
    if (seen.insert(digests[i].hash).second) {
      tree.directories.emplace_back(digests[i], std::move(bytes));
    }
  }
  tree.root = digests.front();
  return tree;
}

} // namespace ingot::client
