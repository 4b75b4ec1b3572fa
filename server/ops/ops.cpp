// The scope table, releases and the admin operations.
#include "server/ops/ops.hpp"

#include "cas/read_tier.hpp"
#include "server/nix_cache.hpp"
#include "server/releases.hpp"
#include "server/route.hpp"
#include "server/status_page.hpp"
#include "util/thread_role.hpp"

namespace ingot::server {

std::string_view to_string(Op op) {
  switch (op) {
#define INGOT_OP_NAME(name, scope, waits)                                                          \
  case Op::name:                                                                                   \
    return #name;
    INGOT_OPS(INGOT_OP_NAME)
#undef INGOT_OP_NAME
  }
  return "unknown";
}

Scopes scope_of(Op op) {
  switch (op) {
#define INGOT_OP_SCOPE(name, scope, waits)                                                         \
  case Op::name:                                                                                   \
    return scope;
    INGOT_OPS(INGOT_OP_SCOPE)
#undef INGOT_OP_SCOPE
  }
  return k_scope_admin;
}

Waits waits_of(Op op) {
  switch (op) {
#define INGOT_OP_WAITS(name, scope, waits)                                                         \
  case Op::name:                                                                                   \
    return Waits::waits;
    INGOT_OPS(INGOT_OP_WAITS)
#undef INGOT_OP_WAITS
  }
  return Waits::may;
}

Ops::Ops(cas::Store& store, Metrics& metrics, Releases* releases, OpsOptions options)
    : m_store(store), m_metrics(metrics), m_releases(releases), m_options(options),
      m_nix(std::make_unique<NixCache>(store,
                                       releases != nullptr ? releases->signing_keys()
                                                           : std::span<const sign::SecretKey>{},
                                       options.nix_priority)),
      m_mirror(options.mirror.upstreams && !options.mirror.names.empty()
                   ? std::make_unique<MirrorCache>(store, options.mirror, options.max_blob_size)
                   : nullptr) {}

Ops::~Ops() = default;

Result<void> Ops::allow(const Caller& caller, Op op) const {
  const Scopes needed = scope_of(op);
  if (grants(caller.scopes, needed)) {
    return {};
  }
  if (!caller.presented) {
    return make_error(Errc::unauthorized, "this request needs a token with the '" +
                                              scopes_to_string(needed) + "' scope");
  }
  return make_error(Errc::forbidden, "token lacks the '" + scopes_to_string(needed) +
                                         "' scope for " + std::string(to_string(op)));
}

Result<void> Ops::enter(const Caller& caller, Op op) const {
  INGOT_TRY(allow(caller, op));
  if (waits_of(op) != Waits::never && !cas::memory_only_reads()) {
    expect_may_block(to_string(op).data()); // the names are string literals
  }
  return {};
}

void Ops::count(Lookup where, bool hit) {
  m_metrics.record_lookup(where, hit);
  m_store.count_lookup(hit);
}

Result<Releases*> Ops::releases_for(const Caller& caller, Op op) const {
  INGOT_TRY(enter(caller, op));
  if (m_releases == nullptr) {
    return make_error(Errc::not_found, "this server publishes no releases");
  }
  return m_releases;
}

Result<SimpleResponse> Ops::publish_release(const Caller& caller, const Route& route,
                                            std::string_view body) {
  auto releases = releases_for(caller, Op::publish_release);
  if (!releases) {
    return std::move(releases).error();
  }
  return (*releases)->publish(m_store, route, body, caller.name);
}

Result<SimpleResponse> Ops::yank_release(const Caller& caller, const Route& route,
                                         std::string_view body) {
  auto releases = releases_for(caller, Op::yank_release);
  if (!releases) {
    return std::move(releases).error();
  }
  return (*releases)->yank(m_store, route, body, caller.name);
}

Result<SimpleResponse> Ops::get_release(const Caller& caller, const Route& route) {
  auto releases = releases_for(caller, Op::read_release);
  if (!releases) {
    return std::move(releases).error();
  }
  return (*releases)->get(m_store, route);
}

Result<SimpleResponse> Ops::keys(const Caller& caller) {
  auto releases = releases_for(caller, Op::keys);
  if (!releases) {
    return std::move(releases).error();
  }
  return (*releases)->keys();
}

Result<SimpleResponse> Ops::audit(const Caller& caller) {
  auto releases = releases_for(caller, Op::audit);
  if (!releases) {
    return std::move(releases).error();
  }
  return (*releases)->audit();
}

Result<StoreSnapshot> Ops::stats(const Caller& caller) {
  INGOT_TRY(enter(caller, Op::stats));
  return snapshot(m_store);
}

Result<cas::GcReport> Ops::gc(const Caller& caller, const cas::GcOptions& options) {
  INGOT_TRY(enter(caller, Op::gc));
  return m_store.gc(options);
}

Result<std::string> Ops::status_page(const Caller& caller, std::string_view host, Tls tls) {
  INGOT_TRY(enter(caller, Op::status_page));
  // Through the /v1/stats answer itself, so that the page and /v1/stats never disagree.
  auto figures =
      status_figures(m_metrics.stats_json(snapshot(m_store)),
                     m_options.version.empty() ? std::string(server_version()) : m_options.version);
  if (!figures) {
    return std::move(figures).error();
  }
  return render_status_page(*figures, host, tls);
}

} // namespace ingot::server
