// plan_tree: a server's REAPI Tree checked and laid out as paths. Checking happens on the
// distinct Directory messages before anything is expanded, so that a small message naming the
// same directory over and over is refused before it costs memory.
#include "client/tree.hpp"
#include "client/tree_canonical.hpp"

#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include <climits>

namespace ingot::client {

namespace {

// Limits on the tree once every reference is expanded into paths. A Tree can name one
// Directory from many places, so a few kilobytes can describe 2^30 paths.
constexpr std::uint64_t k_max_entries = 10'000'000;
// Directory nesting, counted in path components below the root.
constexpr std::size_t k_max_depth = 1024;
// All relative paths together: long names repeated at depth grow as the product of both.
constexpr std::uint64_t k_max_path_bytes = 1ull << 30;

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  std::uint64_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? UINT64_MAX : sum;
}

std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? UINT64_MAX : product;
}

std::string join(std::string_view parent, std::string_view name) {
  std::string out(parent);
  if (!out.empty()) {
    out += '/';
  }
  out += name;
  return out;
}

// A path as it goes into an error message: a NUL would cut the message short in C APIs, and a
// path a thousand long names deep is cut down to its two ends.
std::string shown(std::string_view path) {
  constexpr std::size_t k_end = 120;
  std::string out = "'";
  const auto append = [&](std::string_view part) {
    for (const char c : part) {
      if (c == '\0') {
        out += "\\0";
      } else {
        out += c;
      }
    }
  };
  if (path.size() > 2 * k_end + 3) {
    append(path.substr(0, k_end));
    out += "...";
    append(path.substr(path.size() - k_end));
  } else {
    append(path);
  }
  out += "'";
  return out;
}

std::string where(std::string_view dir_path) {
  return dir_path.empty() ? "the tree's root" : "directory " + shown(dir_path);
}

Result<void> check_name(std::string_view dir_path, const std::string& name) {
  if (name.empty()) {
    return make_error(Errc::invalid_argument, "an entry in " + where(dir_path) +
                                                  " has an empty name; the tree is malformed");
  }
  const char* why = nullptr;
  if (name == "." || name == "..") {
    why = "is a reference to a directory, not a name";
  } else if (name.find('/') != std::string::npos) {
    why = "contains '/'";
  } else if (name.find('\0') != std::string::npos) {
    why = "contains NUL";
  }
  if (why != nullptr) {
    return make_error(Errc::invalid_argument, "tree entry " + shown(join(dir_path, name)) +
                                                  " has a name that " + why +
                                                  "; the tree is malformed");
  }
  return {};
}

Result<cas::Digest> digest_of(const reapi::Digest& d, std::string_view path) {
  if (d.size_bytes() >= 0) {
    if (auto parsed = cas::parse_digest(d.hash(), static_cast<std::uint64_t>(d.size_bytes()))) {
      return *parsed;
    }
  }
  return make_error(Errc::invalid_argument,
                    "tree entry " + shown(path) + " has a malformed digest; the tree is malformed");
}

// How much a directory expands to: the entries below it, the bytes of their paths relative to
// it, and how many directories deep it goes.
struct Extent {
  std::uint64_t entries = 0;
  std::uint64_t path_bytes = 0;
  std::size_t height = 0;
};

std::size_t entry_count(const reapi::Directory& dir) {
  return static_cast<std::size_t>(dir.files_size()) +
         static_cast<std::size_t>(dir.directories_size()) +
         static_cast<std::size_t>(dir.symlinks_size());
}

Extent own_extent(const reapi::Directory& dir) {
  Extent e;
  e.entries = entry_count(dir);
  for (const auto& f : dir.files()) {
    e.path_bytes += f.name().size();
  }
  for (const auto& d : dir.directories()) {
    e.path_bytes += d.name().size();
  }
  for (const auto& s : dir.symlinks()) {
    e.path_bytes += s.name().size();
  }
  return e;
}

// Adds a subdirectory called `name` that expands to `child` to `parent`.
void add_child(Extent& parent, std::string_view name, const Extent& child) {
  parent.entries = saturating_add(parent.entries, child.entries);
  // Every path below the child is prefixed with "name/".
  parent.path_bytes = saturating_add(
      parent.path_bytes,
      saturating_add(child.path_bytes, saturating_mul(child.entries, name.size() + 1)));
  parent.height = std::max(parent.height, child.height + 1);
}

class Planner {
public:
  Planner(const reapi::Tree& tree, EscapingSymlinks symlinks) : m_tree(tree), m_symlinks(symlinks) {
    for (const auto& child : m_tree.children()) {
      const auto digest = cas::digest_of(canonical_bytes(child));
      m_children.emplace(digest.hash, Child{digest.size, &child});
    }
  }

  // Checks every distinct Directory once and measures the expanded tree.
  [[nodiscard]] Result<Extent> measure() const;
  [[nodiscard]] Result<TreePlan> lay_out() const;

private:
  [[nodiscard]] Result<const reapi::Directory*> child_of(const reapi::DirectoryNode& node,
                                                         std::string_view path) const;
  [[nodiscard]] Result<void> check_entries(const reapi::Directory& dir,
                                           std::string_view path) const;
  [[nodiscard]] Result<void> check_symlink(std::string_view path, const std::string& target,
                                           std::size_t depth) const;

  const reapi::Tree& m_tree;
  EscapingSymlinks m_symlinks;
  struct Child {
    std::uint64_t size;
    const reapi::Directory* dir;
  };
  // The Tree's children by the digest of their canonical bytes; the first of equal ones wins.
  std::unordered_map<cas::Hash, Child> m_children;
};

Result<const reapi::Directory*> Planner::child_of(const reapi::DirectoryNode& node,
                                                  std::string_view path) const {
  auto digest = digest_of(node.digest(), path);
  if (!digest) {
    return std::move(digest).error();
  }
  const auto it = m_children.find(digest->hash);
  if (it == m_children.end() || it->second.size != digest->size) {
    return make_error(Errc::corrupt, "tree is missing directory " + shown(path) + " (" +
                                         digest->to_string() + ")");
  }
  return it->second.dir;
}

Result<void> Planner::check_entries(const reapi::Directory& dir, std::string_view path) const {
  std::vector<std::string_view> names;
  names.reserve(entry_count(dir));
  for (const auto& f : dir.files()) {
    INGOT_TRY(check_name(path, f.name()));
    if (auto d = digest_of(f.digest(), join(path, f.name())); !d) {
      return std::move(d).error();
    }
    names.push_back(f.name());
  }
  for (const auto& d : dir.directories()) {
    INGOT_TRY(check_name(path, d.name()));
    names.push_back(d.name());
  }
  for (const auto& s : dir.symlinks()) {
    INGOT_TRY(check_name(path, s.name()));
    // symlink(2) cannot create either of these, so the tree could not be laid out.
    if (s.target().empty() || s.target().find('\0') != std::string::npos) {
      return make_error(Errc::invalid_argument, "symlink " + shown(join(path, s.name())) +
                                                    " has an empty target or one with NUL; "
                                                    "the tree is malformed");
    }
    names.push_back(s.name());
  }
  std::sort(names.begin(), names.end());
  if (const auto dup = std::adjacent_find(names.begin(), names.end()); dup != names.end()) {
    return make_error(Errc::invalid_argument, "tree entry " + shown(join(path, *dup)) +
                                                  " appears twice; the tree is malformed");
  }
  return {};
}

Result<void> Planner::check_symlink(std::string_view path, const std::string& target,
                                    std::size_t depth) const {
  if (m_symlinks == EscapingSymlinks::allow) {
    return {};
  }
  return check_symlink_inside(path, target, depth);
}

Result<Extent> Planner::measure() const {
  // Depth first without recursion: a malicious tree may be deep. Each distinct Directory is
  // entered once; later references add its recorded extent.
  struct Frame {
    const reapi::Directory* dir;
    std::string path;
    int next = 0; // the next subdirectory to look at
    Extent extent;
  };
  std::unordered_map<const reapi::Directory*, Extent> measured;
  std::vector<Frame> stack;
  INGOT_TRY(check_entries(m_tree.root(), ""));
  stack.push_back(Frame{&m_tree.root(), "", 0, own_extent(m_tree.root())});
  for (;;) {
    Frame& top = stack.back();
    if (top.next < top.dir->directories_size()) {
      const auto& node = top.dir->directories(top.next++);
      std::string path = join(top.path, node.name());
      auto child = child_of(node, path);
      if (!child) {
        return std::move(child).error();
      }
      // The child's path has as many components as there are frames.
      const std::size_t depth = stack.size();
      const auto known = measured.find(*child);
      if (depth + (known != measured.end() ? known->second.height : 0) > k_max_depth) {
        return make_error(Errc::too_large, "tree is more than " + std::to_string(k_max_depth) +
                                               " directories deep at " + shown(path));
      }
      if (known != measured.end()) {
        add_child(top.extent, node.name(), known->second);
        continue;
      }
      INGOT_TRY(check_entries(**child, path));
      stack.push_back(Frame{*child, std::move(path), 0, own_extent(**child)});
      continue;
    }
    const Extent done = top.extent;
    const auto* dir = top.dir;
    stack.pop_back();
    if (stack.empty()) {
      return done;
    }
    measured.emplace(dir, done);
    Frame& parent = stack.back();
    add_child(parent.extent, parent.dir->directories(parent.next - 1).name(), done);
  }
}

Result<TreePlan> Planner::lay_out() const {
  struct Pending {
    const reapi::Directory* dir;
    std::string path;
    std::size_t depth;
  };
  TreePlan plan;
  std::vector<Pending> stack{Pending{&m_tree.root(), "", 0}};
  while (!stack.empty()) {
    Pending p = std::move(stack.back());
    stack.pop_back();
    for (const auto& f : p.dir->files()) {
      auto path = join(p.path, f.name());
      auto digest = digest_of(f.digest(), path);
      if (!digest) {
        return std::move(digest).error();
      }
      if (__builtin_add_overflow(plan.file_bytes, digest->size, &plan.file_bytes)) {
        return make_error(Errc::too_large, "tree's files add up to more than 2^64 bytes");
      }
      plan.files.push_back(TreeFile{std::move(path), *digest, f.is_executable()});
    }
    for (const auto& s : p.dir->symlinks()) {
      auto path = join(p.path, s.name());
      INGOT_TRY(check_symlink(path, s.target(), p.depth));
      plan.symlinks.push_back(TreeSymlink{std::move(path), s.target()});
    }
    // Listed here, entered later: parents come before their children.
    const auto first = stack.size();
    for (const auto& d : p.dir->directories()) {
      auto path = join(p.path, d.name());
      auto child = child_of(d, path);
      if (!child) {
        return std::move(child).error();
      }
      plan.directories.push_back(path);
      stack.push_back(Pending{*child, std::move(path), p.depth + 1});
    }
    // The stack pops from the back; reversed, siblings are entered in their listed order.
    std::reverse(stack.begin() + static_cast<std::ptrdiff_t>(first), stack.end());
  }
  return plan;
}

} // namespace

Result<void> check_symlink_inside(std::string_view path, std::string_view target,
                                  std::size_t depth) {
  const auto refuse = [&](const char* why) {
    return make_error(Errc::invalid_argument, "symlink " + shown(path) + " -> " + shown(target) +
                                                  " " + why +
                                                  "; refused unless escaping symlinks are allowed "
                                                  "(--allow-escaping-symlinks)");
  };
  if (target.front() == '/') {
    return refuse("is absolute");
  }
  // Resolved lexically from the symlink's directory, `depth` components below the root: the
  // target must not climb above the root at any step. ".." is accepted only before the first
  // name: after a name it could climb out of a symlink (`r -> .` makes `r/..` the root's
  // parent), and a target that only climbs real directories, then descends through entries
  // that each stay inside, stays inside.
  std::size_t level = depth;
  bool descended = false;
  std::string_view rest = target;
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    const auto part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (part.empty() || part == ".") {
      continue;
    }
    if (part == "..") {
      if (level == 0) {
        return refuse("leads out of the tree");
      }
      if (descended) {
        return refuse("has \"..\" after a name, which a symlink could lead out of the tree");
      }
      --level;
    } else {
      descended = true;
      ++level;
    }
  }
  return {};
}

Result<TreePlan> plan_tree(std::string_view tree_message, const cas::Digest& root,
                           EscapingSymlinks symlinks) {
  if (tree_message.size() > static_cast<std::size_t>(INT_MAX)) {
    return make_error(Errc::too_large, "tree " + root.to_string() +
                                           " is over 2 GiB, more than a protobuf message holds");
  }
  reapi::Tree tree;
  if (!tree.ParseFromArray(tree_message.data(), static_cast<int>(tree_message.size()))) {
    return make_error(Errc::corrupt, "tree " + root.to_string() +
                                         " is not a REAPI Tree message (or has names that are "
                                         "not UTF-8)");
  }
  if (cas::digest_of(canonical_bytes(tree.root())) != root) {
    return make_error(Errc::corrupt, "tree root does not match digest " + root.to_string());
  }
  const Planner planner(tree, symlinks);
  auto extent = planner.measure();
  if (!extent) {
    return std::move(extent).error();
  }
  if (extent->entries > k_max_entries) {
    return make_error(Errc::too_large, "tree " + root.to_string() + " expands to more than " +
                                           std::to_string(k_max_entries) + " entries");
  }
  if (extent->path_bytes > k_max_path_bytes) {
    return make_error(Errc::too_large, "tree " + root.to_string() + " expands to more than " +
                                           std::to_string(k_max_path_bytes >> 20) +
                                           " MiB of paths");
  }
  return planner.lay_out();
}

} // namespace ingot::client
