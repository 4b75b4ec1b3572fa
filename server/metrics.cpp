#include "server/metrics.hpp"

#include "server/gc_report_json.hpp"

#include <chrono>
#include <cstdio>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

namespace ingot::server {

namespace {

constexpr std::array<std::string_view, 8> k_method_names{"GET",    "HEAD",  "PUT",      "POST",
                                                         "DELETE", "MKCOL", "PROPFIND", "other"};
constexpr std::array<unsigned, 20> k_status_codes{100, 200, 201, 204, 206, 207, 400, 401, 403, 404,
                                                  405, 408, 409, 411, 413, 416, 431, 500, 503, 507};
// Seconds; the upper bounds of the latency histogram's buckets (the last is +Inf).
constexpr std::array<double, 15> k_bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                          0.005,  0.01,    0.025,  0.05,  0.1,
                                          0.25,   0.5,     1.0,    5.0,   30.0};
constexpr std::array<std::string_view, 4> k_lookup_names{"cas", "ac", "kv", "nix"};

std::size_t method_index(std::string_view method) {
  for (std::size_t i = 0; i + 1 < k_method_names.size(); ++i) {
    if (k_method_names[i] == method) {
      return i;
    }
  }
  return k_method_names.size() - 1;
}

std::size_t status_index(unsigned status) {
  for (std::size_t i = 0; i < k_status_codes.size(); ++i) {
    if (k_status_codes[i] == status) {
      return i;
    }
  }
  return 17; // 500: anything unexpected is counted as a server error
}

std::string_view route_name(std::size_t i) {
  return i < k_route_kinds ? to_string(static_cast<RouteKind>(i)) : std::string_view("none");
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr std::array<std::string_view, 13> k_grpc_method_names{
#define INGOT_GRPC_METHOD_NAME(name, text) text,
    INGOT_GRPC_METHODS(INGOT_GRPC_METHOD_NAME)
#undef INGOT_GRPC_METHOD_NAME
};

// google.rpc.Code names, by value.
constexpr std::array<std::string_view, 17> k_grpc_code_names{
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

} // namespace

std::string_view to_string(GrpcMethod method) {
  return k_grpc_method_names[static_cast<std::size_t>(method)];
}

std::optional<Lookup> lookup_of(RouteKind route) {
  switch (route) {
  case RouteKind::cas:
    return Lookup::cas;
  case RouteKind::ac:
    return Lookup::ac;
  case RouteKind::kv:
    return Lookup::kv;
  case RouteKind::nix_cache_info:
  case RouteKind::nix_narinfo:
  case RouteKind::nix:
    return Lookup::nix;
  default:
    return std::nullopt;
  }
}

Metrics::Metrics() : m_started_unix_s(unix_now()) {}

void Metrics::record_request(const RouteKind* route, std::string_view method, unsigned status,
                             std::uint64_t bytes_in, std::uint64_t bytes_out, double seconds) {
  const std::size_t r = route != nullptr ? static_cast<std::size_t>(*route) : k_routes - 1;
  m_requests[(r * k_methods + method_index(method)) * k_statuses + status_index(status)]++;
  std::size_t b = 0;
  while (b < k_buckets && seconds > k_bounds[b]) {
    ++b;
  }
  m_latency[r * (k_buckets + 1) + b]++;
  m_latency_sum_us[r] += static_cast<std::uint64_t>(seconds * 1e6);
  m_bytes_in += bytes_in;
  m_bytes_out += bytes_out;
  if (const auto lookup = route != nullptr ? lookup_of(*route) : std::nullopt) {
    m_lookup_bytes_in[static_cast<std::size_t>(*lookup)] += bytes_in;
    m_lookup_bytes_out[static_cast<std::size_t>(*lookup)] += bytes_out;
  }
}

void Metrics::record_grpc(GrpcMethod method, int code, double seconds) {
  static_assert(k_grpc_method_names.size() == k_grpc_methods);
  const auto m = static_cast<std::size_t>(method);
  const auto c = code >= 0 && static_cast<std::size_t>(code) < k_grpc_codes
                     ? static_cast<std::size_t>(code)
                     : std::size_t{2}; // UNKNOWN
  m_grpc_calls[m * k_grpc_codes + c]++;
  m_grpc_seconds_us[m] += static_cast<std::uint64_t>(seconds * 1e6);
}

void Metrics::record_lookup(Lookup where, bool hit) {
  (hit ? m_hits : m_misses)[static_cast<std::size_t>(where)]++;
}

StoreSnapshot snapshot(cas::Store& store) {
  return {store.usage(), store.space(), store.gc_stats()};
}

std::string Metrics::prometheus(const StoreSnapshot& store) const {
  const auto& usage = store.usage;
  std::ostringstream o;
  o << "# HELP ingot_http_requests_total HTTP requests by route, method and status.\n"
       "# TYPE ingot_http_requests_total counter\n";
  for (std::size_t r = 0; r < k_routes; ++r) {
    for (std::size_t m = 0; m < k_methods; ++m) {
      for (std::size_t s = 0; s < k_statuses; ++s) {
        const auto n = m_requests[(r * k_methods + m) * k_statuses + s].load();
        if (n != 0) {
          o << "ingot_http_requests_total{route=\"" << route_name(r) << "\",method=\""
            << k_method_names[m] << "\",status=\"" << k_status_codes[s] << "\"} " << n << '\n';
        }
      }
    }
  }
  o << "# HELP ingot_grpc_calls_total gRPC calls by method and status code.\n"
       "# TYPE ingot_grpc_calls_total counter\n";
  for (std::size_t m = 0; m < k_grpc_methods; ++m) {
    for (std::size_t c = 0; c < k_grpc_codes; ++c) {
      if (const auto n = m_grpc_calls[m * k_grpc_codes + c].load(); n != 0) {
        o << "ingot_grpc_calls_total{method=\"" << k_grpc_method_names[m] << "\",code=\""
          << k_grpc_code_names[c] << "\"} " << n << '\n';
      }
    }
  }
  o << "# HELP ingot_grpc_call_seconds_total Time spent in gRPC calls, by method.\n"
       "# TYPE ingot_grpc_call_seconds_total counter\n";
  for (std::size_t m = 0; m < k_grpc_methods; ++m) {
    if (const auto us = m_grpc_seconds_us[m].load(); us != 0) {
      o << "ingot_grpc_call_seconds_total{method=\"" << k_grpc_method_names[m] << "\"} "
        << static_cast<double>(us) / 1e6 << '\n';
    }
  }
  o << "# HELP ingot_http_request_duration_seconds Time from request header to response end.\n"
       "# TYPE ingot_http_request_duration_seconds histogram\n";
  for (std::size_t r = 0; r < k_routes; ++r) {
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b <= k_buckets; ++b) {
      cumulative += m_latency[r * (k_buckets + 1) + b].load();
    }
    if (cumulative == 0) {
      continue;
    }
    cumulative = 0;
    for (std::size_t b = 0; b <= k_buckets; ++b) {
      cumulative += m_latency[r * (k_buckets + 1) + b].load();
      o << "ingot_http_request_duration_seconds_bucket{route=\"" << route_name(r) << "\",le=\"";
      if (b < k_buckets) {
        o << k_bounds[b];
      } else {
        o << "+Inf";
      }
      o << "\"} " << cumulative << '\n';
    }
    o << "ingot_http_request_duration_seconds_sum{route=\"" << route_name(r) << "\"} "
      << static_cast<double>(m_latency_sum_us[r].load()) / 1e6 << '\n';
    o << "ingot_http_request_duration_seconds_count{route=\"" << route_name(r) << "\"} "
      << cumulative << '\n';
  }
  o << "# HELP ingot_http_received_bytes_total Request body bytes received.\n"
       "# TYPE ingot_http_received_bytes_total counter\n"
    << "ingot_http_received_bytes_total " << m_bytes_in.load() << '\n'
    << "# HELP ingot_http_sent_bytes_total Response body bytes sent.\n"
       "# TYPE ingot_http_sent_bytes_total counter\n"
    << "ingot_http_sent_bytes_total " << m_bytes_out.load() << '\n'
    << "# HELP ingot_cache_lookups_total Reads by namespace and result.\n"
       "# TYPE ingot_cache_lookups_total counter\n";
  for (std::size_t i = 0; i < k_lookup_names.size(); ++i) {
    o << "ingot_cache_lookups_total{namespace=\"" << k_lookup_names[i] << "\",result=\"hit\"} "
      << m_hits[i].load() << '\n'
      << "ingot_cache_lookups_total{namespace=\"" << k_lookup_names[i] << "\",result=\"miss\"} "
      << m_misses[i].load() << '\n';
  }
  o << "# HELP ingot_cache_sent_bytes_total Response body bytes sent by namespace.\n"
       "# TYPE ingot_cache_sent_bytes_total counter\n";
  for (std::size_t i = 0; i < k_lookup_names.size(); ++i) {
    o << "ingot_cache_sent_bytes_total{namespace=\"" << k_lookup_names[i] << "\"} "
      << m_lookup_bytes_out[i].load() << '\n';
  }
  o << "# HELP ingot_cache_received_bytes_total Request body bytes received by namespace.\n"
       "# TYPE ingot_cache_received_bytes_total counter\n";
  for (std::size_t i = 0; i < k_lookup_names.size(); ++i) {
    o << "ingot_cache_received_bytes_total{namespace=\"" << k_lookup_names[i] << "\"} "
      << m_lookup_bytes_in[i].load() << '\n';
  }
  o << "# HELP ingot_stored_bytes Bytes stored on disk (after compression).\n"
       "# TYPE ingot_stored_bytes gauge\n"
    << "ingot_stored_bytes " << usage.stored_bytes << '\n'
    << "# HELP ingot_logical_bytes Sum of the sizes of stored blobs.\n"
       "# TYPE ingot_logical_bytes gauge\n"
    << "ingot_logical_bytes " << usage.logical_bytes << '\n'
    << "# HELP ingot_entries Stored entries by namespace.\n"
       "# TYPE ingot_entries gauge\n"
    << "ingot_entries{namespace=\"cas\"} " << usage.blobs << '\n'
    << "ingot_entries{namespace=\"ac\"} " << usage.ac_entries << '\n'
    << "ingot_entries{namespace=\"kv\"} " << usage.kv_entries << '\n'
    << "ingot_entries{namespace=\"ref\"} " << usage.ref_entries << '\n'
    << "ingot_entries{namespace=\"nix\"} " << usage.nix_entries << '\n'
    << "# HELP ingot_disk_bytes The data dir's size on disk, as the size bound counts it.\n"
       "# TYPE ingot_disk_bytes gauge\n"
    << "ingot_disk_bytes " << store.space.used << '\n'
    << "# HELP ingot_max_size_bytes The size bound (--max-size); 0 when there is none.\n"
       "# TYPE ingot_max_size_bytes gauge\n"
    << "ingot_max_size_bytes " << store.space.max_size << '\n'
    << "# HELP ingot_reserved_bytes Space held for uploads in flight.\n"
       "# TYPE ingot_reserved_bytes gauge\n"
    << "ingot_reserved_bytes " << store.space.reserved << '\n'
    << "# HELP ingot_pinned_bytes Stored bytes of pinned blobs (never evicted).\n"
       "# TYPE ingot_pinned_bytes gauge\n"
    << "ingot_pinned_bytes " << usage.pinned_bytes << '\n'
    << "# HELP ingot_gc_runs_total Garbage collection runs.\n"
       "# TYPE ingot_gc_runs_total counter\n"
    << "ingot_gc_runs_total " << store.gc.runs << '\n'
    << "# HELP ingot_gc_duration_seconds_total Time spent in garbage collection.\n"
       "# TYPE ingot_gc_duration_seconds_total counter\n"
    << "ingot_gc_duration_seconds_total " << store.gc.duration_s << '\n'
    << "# HELP ingot_gc_evicted_entries_total Blobs evicted by garbage collection.\n"
       "# TYPE ingot_gc_evicted_entries_total counter\n"
    << "ingot_gc_evicted_entries_total " << store.gc.evicted_entries << '\n'
    << "# HELP ingot_gc_evicted_bytes_total Stored bytes evicted by garbage collection.\n"
       "# TYPE ingot_gc_evicted_bytes_total counter\n"
    << "ingot_gc_evicted_bytes_total " << store.gc.evicted_bytes << '\n'
    << "# HELP ingot_oldest_entry_age_seconds Age of the least recently used evictable blob: "
       "the cache's effective retention.\n"
       "# TYPE ingot_oldest_entry_age_seconds gauge\n"
    << "ingot_oldest_entry_age_seconds " << store.gc.oldest_entry_age_s.value_or(0) << '\n'
    << "# HELP ingot_open_connections Connections open now.\n"
       "# TYPE ingot_open_connections gauge\n"
    << "ingot_open_connections " << m_connections.load() << '\n'
    << "# HELP ingot_refused_connections_total Connections refused at the connection limit.\n"
       "# TYPE ingot_refused_connections_total counter\n"
    << "ingot_refused_connections_total " << m_connections_refused.load() << '\n'
    << "# HELP ingot_tls_handshake_failures_total TLS handshakes that failed (plain HTTP to an "
       "HTTPS listener, a client that does not trust the certificate).\n"
       "# TYPE ingot_tls_handshake_failures_total counter\n"
    << "ingot_tls_handshake_failures_total " << m_tls_handshake_failures.load() << '\n'
    << "# HELP ingot_start_time_seconds Unix time the server started.\n"
       "# TYPE ingot_start_time_seconds gauge\n"
    << "ingot_start_time_seconds " << m_started_unix_s << '\n';
  return o.str();
}

std::string Metrics::stats_json(const StoreSnapshot& store) const {
  const auto& usage = store.usage;
  nlohmann::json lookups = nlohmann::json::object();
  for (std::size_t i = 0; i < k_lookup_names.size(); ++i) {
    const auto hits = m_hits[i].load();
    const auto misses = m_misses[i].load();
    lookups[std::string(k_lookup_names[i])] = {
        {"hits", hits},
        {"misses", misses},
        {"bytes_received", m_lookup_bytes_in[i].load()},
        {"bytes_sent", m_lookup_bytes_out[i].load()},
        {"hit_rate", hits + misses == 0
                         ? 0.0
                         : static_cast<double>(hits) / static_cast<double>(hits + misses)}};
  }
  nlohmann::json grpc = nlohmann::json::object();
  for (std::size_t m = 0; m < k_grpc_methods; ++m) {
    for (std::size_t c = 0; c < k_grpc_codes; ++c) {
      if (const auto n = m_grpc_calls[m * k_grpc_codes + c].load(); n != 0) {
        grpc[std::string(k_grpc_method_names[m])][std::string(k_grpc_code_names[c])] = n;
      }
    }
  }
  const nlohmann::json j{
      {"stored_bytes", usage.stored_bytes},
      {"logical_bytes", usage.logical_bytes},
      {"entries",
       {{"cas", usage.blobs},
        {"ac", usage.ac_entries},
        {"kv", usage.kv_entries},
        {"ref", usage.ref_entries},
        {"nix", usage.nix_entries}}},
      {"disk",
       {{"used_bytes", store.space.used},
        {"max_size_bytes", store.space.max_size},
        {"gc_high_bytes", store.space.gc_high},
        {"gc_low_bytes", store.space.gc_low},
        {"files_bytes", store.space.files},
        {"index_bytes", store.space.index},
        {"reserved_bytes", store.space.reserved},
        {"pinned_bytes", usage.pinned_bytes}}},
      {"gc",
       {{"runs", store.gc.runs},
        {"evicted_entries", store.gc.evicted_entries},
        {"evicted_bytes", store.gc.evicted_bytes},
        {"duration_seconds", store.gc.duration_s},
        {"oldest_entry_age_seconds", store.gc.oldest_entry_age_s
                                         ? nlohmann::json(*store.gc.oldest_entry_age_s)
                                         : nlohmann::json(nullptr)},
        {"last", store.gc.last ? gc_report_json(*store.gc.last) : nlohmann::json(nullptr)}}},
      {"lookups", lookups},
      {"grpc_calls", grpc},
      {"bytes_received", m_bytes_in.load()},
      {"bytes_sent", m_bytes_out.load()},
      {"open_connections", m_connections.load()},
      {"uptime_seconds", unix_now() - m_started_unix_s},
  };
  return j.dump(2) + "\n";
}

} // namespace ingot::server
