#include "sign/release_files.hpp"

#include <algorithm>
#include <functional>

namespace ingot::sign {

namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '+' || c == '-';
}

void sort_by_name(std::vector<Artifact>& artifacts) {
  std::sort(artifacts.begin(), artifacts.end(),
            [](const Artifact& a, const Artifact& b) { return a.name < b.name; });
}

Error bad_line(std::size_t number, std::string_view why) {
  return make_error(Errc::invalid_argument,
                    "checksum line " + std::to_string(number) + ": " + std::string(why));
}

// Splits text into lines; the last must end in '\n' like every other.
Result<std::vector<std::string_view>> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    if (nl == std::string_view::npos) {
      return make_error(Errc::invalid_argument, "checksum list does not end with a newline");
    }
    out.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return out;
}

Result<ListedFile> listed(std::size_t number, std::string_view hex, std::string_view name) {
  auto hash = cas::parse_hash(hex);
  if (!hash) {
    return bad_line(number, "'" + std::string(hex) + "' is not a SHA-256 in lowercase hex");
  }
  if (auto ok = check_artifact_name(name); !ok) {
    return bad_line(number, ok.error().message);
  }
  return ListedFile{std::string(name), *hash};
}

Result<std::vector<ListedFile>>
parse_lines(std::string_view text,
            const std::function<Result<ListedFile>(std::size_t, std::string_view)>& parse) {
  auto lines = lines_of(text);
  if (!lines) {
    return std::move(lines).error();
  }
  std::vector<ListedFile> out;
  for (std::size_t i = 0; i < lines->size(); ++i) {
    auto file = parse(i + 1, (*lines)[i]);
    if (!file) {
      return std::move(file).error();
    }
    out.push_back(std::move(*file));
  }
  if (out.empty()) {
    return make_error(Errc::invalid_argument, "checksum list is empty");
  }
  return out;
}

} // namespace

Result<void> check_release_name(std::string_view name, std::string_view what) {
  const auto bad = [&](const std::string& why) {
    return make_error(Errc::invalid_argument,
                      std::string(what) + " name '" + std::string(name) + "' " + why);
  };
  if (name.empty() || name.size() > 128) {
    return bad("must be 1 to 128 characters");
  }
  if (!std::all_of(name.begin(), name.end(), name_char)) {
    return bad("may hold only letters, digits and . _ + -");
  }
  if (name.front() == '.' || name.front() == '_' || name.front() == '+' || name.front() == '-') {
    return bad("must start with a letter or a digit");
  }
  return {};
}

Result<void> check_artifact_name(std::string_view name) {
  const auto bad = [&](const std::string& why) {
    return make_error(Errc::invalid_argument, "artifact name '" + std::string(name) + "' " + why);
  };
  if (name.empty() || name.size() > 1024) {
    return bad("must be 1 to 1024 bytes");
  }
  if (name == k_sums_file || name == k_minisig_file || name == k_signify_file) {
    return bad("is the name of a signature file");
  }
  std::string_view rest = name;
  while (true) {
    const auto slash = rest.find('/');
    const auto part = rest.substr(0, slash);
    if (part.empty() || part == "." || part == "..") {
      return bad("has an empty, '.' or '..' path component");
    }
    if (!std::all_of(part.begin(), part.end(), name_char)) {
      return bad("may hold only letters, digits, . _ + - and / between components");
    }
    if (slash == std::string_view::npos) {
      return {};
    }
    rest.remove_prefix(slash + 1);
  }
}

std::string sha256sums(std::vector<Artifact> artifacts) {
  sort_by_name(artifacts);
  std::string out;
  for (const auto& a : artifacts) {
    out += a.digest.hex() + "  " + a.name + "\n";
  }
  return out;
}

std::string bsd_checksums(std::vector<Artifact> artifacts) {
  sort_by_name(artifacts);
  std::string out;
  for (const auto& a : artifacts) {
    out += "SHA256 (" + a.name + ") = " + a.digest.hex() + "\n";
  }
  return out;
}

Result<std::vector<ListedFile>> parse_sha256sums(std::string_view text) {
  return parse_lines(text, [](std::size_t n, std::string_view line) -> Result<ListedFile> {
    // sha256sum writes two spaces (text mode) or a space and '*' (binary mode).
    if (line.size() < 67 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*')) {
      return bad_line(n, "expected '<64 hex>  <name>'");
    }
    return listed(n, line.substr(0, 64), line.substr(66));
  });
}

Result<std::vector<ListedFile>> parse_bsd_checksums(std::string_view text) {
  return parse_lines(text, [](std::size_t n, std::string_view line) -> Result<ListedFile> {
    constexpr std::string_view head = "SHA256 (";
    constexpr std::string_view middle = ") = ";
    const auto mid = line.rfind(middle);
    if (!line.starts_with(head) || mid == std::string_view::npos || mid < head.size()) {
      return bad_line(n, "expected 'SHA256 (<name>) = <64 hex>'");
    }
    return listed(n, line.substr(mid + middle.size()), line.substr(head.size(), mid - head.size()));
  });
}

std::string release_trusted_comment(std::string_view project, std::string_view version,
                                    std::int64_t unix_time, const PublicKey& key) {
  return "timestamp:" + std::to_string(unix_time) + "\tproject:" + std::string(project) +
         "\tversion:" + std::string(version) + "\tkey:" + key.id_hex();
}

} // namespace ingot::sign
