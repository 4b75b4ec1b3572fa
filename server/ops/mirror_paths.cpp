// Which paths of a mirror change in place (server/ops/mirror.hpp): the built-in list of
// repository indexes, and --mirror-mutable's globs.
#include "server/ops/mirror.hpp"

#include <algorithm>
#include <initializer_list>

namespace ingot::server {

namespace {

std::string_view file_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool ends_with_any(std::string_view name, std::initializer_list<std::string_view> suffixes) {
  return std::any_of(suffixes.begin(), suffixes.end(),
                     [&](std::string_view s) { return name.ends_with(s); });
}

} // namespace

bool is_mutable_path(std::string_view path) {
  const auto name = file_name(path);
  return name == "Release" || name == "InRelease" || name == "Release.gpg" ||
         name == "repomd.xml" || name.starts_with("Packages") || name.starts_with("Sources") ||
         name.starts_with("Contents-") || name.starts_with("Translation-") ||
         ends_with_any(name, {".db", ".json"});
}

bool glob_matches(std::string_view glob, std::string_view path) {
  const auto text = glob.find('/') == std::string_view::npos ? file_name(path) : path;
  // Iterative, with one backtrack point (the last `*`): linear in practice, never exponential.
  std::size_t g = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t star_text = 0;
  while (t < text.size()) {
    if (g < glob.size() && (glob[g] == '?' || (glob[g] != '*' && glob[g] == text[t]))) {
      ++g;
      ++t;
    } else if (g < glob.size() && glob[g] == '*') {
      star = g++;
      star_text = t;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') {
    ++g;
  }
  return g == glob.size();
}

bool is_mutable_path(std::string_view path, const std::vector<std::string>& globs) {
  return std::any_of(globs.begin(), globs.end(),
                     [&](const std::string& glob) { return glob_matches(glob, path); });
}

Result<std::vector<std::string>> parse_mutable_globs(std::string_view list) {
  std::vector<std::string> globs;
  std::string_view rest = list;
  while (true) {
    const auto comma = rest.find(',');
    const auto glob = rest.substr(0, comma);
    if (glob.empty()) {
      return make_error(Errc::invalid_argument,
                        "an empty glob in '" + std::string(list) +
                            "': write GLOB[,GLOB...], e.g. 'Release,Packages*,dists/*/InRelease'");
    }
    if (glob.starts_with('/')) {
      return make_error(Errc::invalid_argument,
                        "glob '" + std::string(glob) +
                            "' starts with '/': globs are relative to the mirror's URL, as in "
                            "'dists/*/Release'");
    }
    globs.emplace_back(glob);
    if (comma == std::string_view::npos) {
      return globs;
    }
    rest.remove_prefix(comma + 1);
  }
}

} // namespace ingot::server
