// Request counters and latency histograms, kept in fixed arrays of atomics (no lock per
// request), rendered in the Prometheus text format and as /v1/stats JSON.
#pragma once

#include "cas/store.hpp"
#include "server/route.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace ingot::server {

enum class Lookup { cas, ac, kv, nix };

// The namespace whose body bytes a route's requests count towards (ingot_cache_*_bytes_total),
// when it has one: /cas/, /ac/, /kv/, and nix for every /nix/ route.
std::optional<Lookup> lookup_of(RouteKind route);

// The gRPC methods served (server/grpc/), for ingot_grpc_calls_total and /v1/stats.
#define INGOT_GRPC_METHODS(X)                                                                      \
  X(get_capabilities, "Capabilities/GetCapabilities")                                              \
  X(find_missing_blobs, "ContentAddressableStorage/FindMissingBlobs")                              \
  X(batch_update_blobs, "ContentAddressableStorage/BatchUpdateBlobs")                              \
  X(batch_read_blobs, "ContentAddressableStorage/BatchReadBlobs")                                  \
  X(get_tree, "ContentAddressableStorage/GetTree")                                                 \
  X(get_action_result, "ActionCache/GetActionResult")                                              \
  X(update_action_result, "ActionCache/UpdateActionResult")                                        \
  X(bytestream_read, "ByteStream/Read")                                                            \
  X(bytestream_write, "ByteStream/Write")                                                          \
  X(query_write_status, "ByteStream/QueryWriteStatus")                                             \
  X(get_reference, "ReferenceStorage/GetReference")                                                \
  X(update_reference, "ReferenceStorage/UpdateReference")                                          \
  X(reference_status, "ReferenceStorage/Status")

enum class GrpcMethod : std::uint8_t {
#define INGOT_GRPC_METHOD_ENUM(name, text) name,
  INGOT_GRPC_METHODS(INGOT_GRPC_METHOD_ENUM)
#undef INGOT_GRPC_METHOD_ENUM
};
std::string_view to_string(GrpcMethod method); // "ContentAddressableStorage/FindMissingBlobs"

// What the store reports, read once per /metrics or /v1/stats request.
struct StoreSnapshot {
  cas::Usage usage;
  cas::Space space;
  cas::GcStats gc;
};
StoreSnapshot snapshot(cas::Store& store);

class Metrics {
public:
  Metrics();

  // `route` is nullptr for requests that matched no route.
  void record_request(const RouteKind* route, std::string_view method, unsigned status,
                      std::uint64_t bytes_in, std::uint64_t bytes_out, double seconds);
  void record_lookup(Lookup where, bool hit);
  // A gRPC call that ended with status `code` (0 OK … 16 UNAUTHENTICATED).
  void record_grpc(GrpcMethod method, int code, double seconds);
  void connection_opened() { ++m_connections; }
  void connection_closed() { --m_connections; }
  void connection_refused() { ++m_connections_refused; }
  // A TLS handshake that failed: plain HTTP to an HTTPS port, an untrusted certificate.
  void tls_handshake_failed() { ++m_tls_handshake_failures; }
  std::int64_t open_connections() const { return m_connections.load(); }

  std::string prometheus(const StoreSnapshot& store) const;
  std::string stats_json(const StoreSnapshot& store) const;

private:
  static constexpr std::size_t k_routes = k_route_kinds + 1; // every RouteKind, and "none"
  static constexpr std::size_t k_methods = 8;
  static constexpr std::size_t k_statuses = 20;
  static constexpr std::size_t k_buckets = 15;

  std::array<std::atomic<std::uint64_t>, k_routes * k_methods * k_statuses> m_requests{};
  std::array<std::atomic<std::uint64_t>, k_routes*(k_buckets + 1)> m_latency{};
  std::array<std::atomic<std::uint64_t>, k_routes> m_latency_sum_us{};
  static constexpr std::size_t k_grpc_methods = 13;
  static constexpr std::size_t k_grpc_codes = 17;
  std::array<std::atomic<std::uint64_t>, k_grpc_methods * k_grpc_codes> m_grpc_calls{};
  std::array<std::atomic<std::uint64_t>, k_grpc_methods> m_grpc_seconds_us{};
  std::array<std::atomic<std::uint64_t>, 4> m_hits{};
  std::array<std::atomic<std::uint64_t>, 4> m_misses{};
  // Body bytes of the requests to each lookup's routes (a nix cache's nars and narinfos).
  std::array<std::atomic<std::uint64_t>, 4> m_lookup_bytes_in{};
  std::array<std::atomic<std::uint64_t>, 4> m_lookup_bytes_out{};
  std::atomic<std::uint64_t> m_bytes_in{0};
  std::atomic<std::uint64_t> m_bytes_out{0};
  std::atomic<std::int64_t> m_connections{0};
  std::atomic<std::uint64_t> m_connections_refused{0};
  std::atomic<std::uint64_t> m_tls_handshake_failures{0};
  std::int64_t m_started_unix_s;
};

} // namespace ingot::server
