// Internal to server/: what every session shares.
#pragma once

#include "cas/store.hpp"
#include "server/auth.hpp"
#include "server/metrics.hpp"
#include "server/ops/ops.hpp"
#include "server/releases.hpp"
#include "server/server.hpp"

#include <atomic>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace ingot::server {

struct ServerContext {
  ServerContext(const ServerOptions& o, cas::Store& s, const std::filesystem::path& data_dir,
                std::unique_ptr<Releases> r, std::shared_ptr<Upstreams> upstreams)
      : options(o), auth(data_dir, o.anonymous), releases(std::move(r)),
        ops(s, metrics, releases.get(),
            OpsOptions{o.max_blob_size, o.nix_priority, o.version,
                       mirror_options(o, std::move(upstreams))}) {}

  static MirrorOptions mirror_options(const ServerOptions& o,
                                      std::shared_ptr<Upstreams> upstreams) {
    MirrorOptions mirror;
    for (const auto& m : o.mirrors) {
      mirror.names.push_back(m.name);
      if (!m.mutable_globs.empty()) {
        mirror.mutable_globs[m.name] = m.mutable_globs;
      }
    }
    mirror.ttl = o.mirror_ttl;
    mirror.upstreams = std::move(upstreams);
    return mirror;
  }

  const ServerOptions options;
  Authenticator auth;
  Metrics metrics;
  std::unique_ptr<Releases> releases;
  // What every front end calls: sessions have no way to the store but through it.
  Ops ops;
  std::atomic<bool> draining{false};
  // Runs work that waits for the disk (fsync) off the I/O threads.
  std::function<void(std::function<void()>)> run_blocking;
  // Runs work that waits for an upstream server (Waits::upstream), on a pool of its own.
  std::function<void(std::function<void()>)> run_upstream;

  // Each live session registers how to close it if it is idle, for a graceful drain.
  std::mutex sessions_mutex;
  std::unordered_map<const void*, std::function<void()>> idle_closers;
};

} // namespace ingot::server
