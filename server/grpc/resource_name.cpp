#include "server/grpc/resource_name.hpp"

#include <charconv>
#include <string>
#include <vector>

namespace ingot::server::grpc_front {

namespace {

std::vector<std::string_view> split(std::string_view name) {
  std::vector<std::string_view> parts;
  while (true) {
    const auto slash = name.find('/');
    parts.push_back(name.substr(0, slash));
    if (slash == std::string_view::npos) {
      return parts;
    }
    name.remove_prefix(slash + 1);
  }
}

Error malformed(std::string_view name, Access access) {
  return make_error(Errc::invalid_argument,
                    "resource_name '" + std::string(name) + "': expected " +
                        (access == Access::write
                             ? "[INSTANCE/]uploads/UUID/blobs/HASH/SIZE (or compressed-blobs/zstd/"
                               "HASH/SIZE), HASH 64 lowercase hex digits"
                             : "[INSTANCE/]blobs/HASH/SIZE (or compressed-blobs/zstd/HASH/SIZE), "
                               "HASH 64 lowercase hex digits"));
}

// HASH/SIZE from parts[i] on, after an optional digest function segment ("sha256").
Result<cas::Digest> digest_at(const std::vector<std::string_view>& parts, std::size_t i) {
  if (i < parts.size() && parts[i] == "sha256") {
    ++i;
  }
  if (i + 1 >= parts.size()) {
    return make_error(Errc::invalid_argument, "no HASH/SIZE");
  }
  const auto s = parts[i + 1];
  std::uint64_t size = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), size);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    return make_error(Errc::invalid_argument, "no size");
  }
  return cas::parse_digest(parts[i], size);
}

} // namespace

Result<BlobResource> parse_resource(std::string_view name, Access access) {
  if (name.size() > k_max_resource_name) {
    return make_error(Errc::invalid_argument, "resource_name is " + std::to_string(name.size()) +
                                                  " bytes, over " +
                                                  std::to_string(k_max_resource_name));
  }
  const auto parts = split(name);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    std::size_t at = i;
    if (access == Access::write) {
      if (parts[i] != "uploads") {
        continue;
      }
      at = i + 2; // past the UUID
      if (at >= parts.size()) {
        break;
      }
    }
    BlobResource resource;
    std::size_t digest_at_index = 0;
    if (parts[at] == "blobs") {
      digest_at_index = at + 1;
    } else if (parts[at] == "compressed-blobs" && at + 1 < parts.size()) {
      if (parts[at + 1] != "zstd") {
        return make_error(Errc::invalid_argument,
                          "resource_name '" + std::string(name) + "': compressor '" +
                              std::string(parts[at + 1]) +
                              "' is not supported (GetCapabilities lists zstd)");
      }
      resource.zstd = true;
      digest_at_index = at + 2;
    } else if (access == Access::write) {
      break;
    } else {
      continue;
    }
    auto digest = digest_at(parts, digest_at_index);
    if (!digest) {
      return malformed(name, access);
    }
    resource.digest = *digest;
    return resource;
  }
  return malformed(name, access);
}

} // namespace ingot::server::grpc_front
