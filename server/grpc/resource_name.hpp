// Internal to server/grpc/: the ByteStream resource names REAPI defines for CAS blobs.
#pragma once

#include "cas/digest.hpp"
#include "util/result.hpp"

#include <string_view>

namespace ingot::server::grpc_front {

struct BlobResource {
  cas::Digest digest; // of the uncompressed bytes
  bool zstd = false;  // compressed-blobs/zstd/…: the bytes on the wire are one zstd stream
};

enum class Access { read, write };

// Longest resource name taken (real ones are under 200 bytes).
inline constexpr std::size_t k_max_resource_name = 1024;

// Reads: `[INSTANCE/]blobs/[sha256/]HASH/SIZE` or `[INSTANCE/]compressed-blobs/zstd/…`.
// Writes: `[INSTANCE/]uploads/UUID/blobs/…` or `…/uploads/UUID/compressed-blobs/zstd/…`, with
// anything after SIZE (optional metadata) ignored. The instance name is accepted and ignored:
// every instance is the one store. Errc::invalid_argument naming the expected form otherwise,
// or the compressor when it is not zstd.
[[nodiscard]] Result<BlobResource> parse_resource(std::string_view name, Access access);

} // namespace ingot::server::grpc_front
