// The operations every front end calls: HTTP today, gRPC and the Nix routes next. Each takes
// the caller and plain arguments and returns a Result; the policy that must not differ
// between front ends lives here, once: the scope an operation needs, completeness of ac
// entries and refs, hit/miss counting, and the audit records of releases.
//
// Every operation that may touch the disk expects to run on a thread that may block (the
// server's blocking pool): the store's write paths check it in builds with assertions, and the
// HTTP route table runs every handler there unless its row says the handler never waits.
#pragma once

#include "cas/store.hpp"
#include "server/api.hpp"
#include "server/auth.hpp"
#include "server/blob_read.hpp"
#include "server/metrics.hpp"
#include "server/ops/mirror.hpp"
#include "server/status_page.hpp"
#include "server/upload.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ingot::server {

class NixCache;
class Releases;
struct Route;

// Who is asking: the scopes their credentials grant, and whether they presented any (a
// refusal is then "forbidden", not "unauthorized").
struct Caller {
  Scopes scopes = 0;
  bool presented = false;
  std::string name; // the token's name, for logs and audit records; empty when anonymous

  static Caller with(Scopes scopes) { return {scopes, true, "test"}; }
};

// Every operation, with the scope it needs and whether it may wait for the disk. A front end
// checks a request's scope before reading its body (a 401 should not wait for a 16 MiB
// upload), and the operation checks it again. One that may wait runs on a thread that may
// block: front ends run it there, and it says so itself (util/thread_role.hpp) in builds with
// assertions. Only /healthz and the keys held in memory never wait: even the stats wait, as
// they read the oldest entry of the eviction order under the lock a GC run holds.
#define INGOT_OPS(X)                                                                               \
  X(healthz, 0, never)                                                                             \
  X(read_blob, k_scope_read, memory_first)                                                         \
  X(stat_blob, k_scope_read, may)                                                                  \
  X(write_blob, k_scope_write, may)                                                                \
  X(remove_blob, k_scope_admin, may)                                                               \
  X(find_missing, k_scope_read, may)                                                               \
  X(batch_read, k_scope_read, may)                                                                 \
  X(batch_update, k_scope_write, may)                                                              \
  X(get_tree, k_scope_read, may)                                                                   \
  X(read_ref, k_scope_read, may)                                                                   \
  X(write_ref, k_scope_write, may)                                                                 \
  X(read_release, k_scope_read, may)                                                               \
  X(publish_release, k_scope_sign, may)                                                            \
  X(yank_release, k_scope_admin, may)                                                              \
  X(keys, k_scope_read, never)                                                                     \
  X(audit, k_scope_admin, may)                                                                     \
  X(stats, k_scope_read, may)                                                                      \
  X(gc, k_scope_admin, may)                                                                        \
  X(status_page, k_scope_read, may)                                                                \
  X(nix_cache_info, 0, never)                                                                      \
  X(read_narinfo, k_scope_read, memory_first)                                                      \
  X(write_narinfo, k_scope_write, may)                                                             \
  X(nix_pin, k_scope_write, may)                                                                   \
  X(read_mirror, k_scope_read, upstream)                                                           \
  X(mirror_snapshot, k_scope_write, may)                                                           \
  X(mirror_override, k_scope_admin, may)

enum class Op : std::uint8_t {
#define INGOT_OP_ENUM(name, scope, waits) name,
  INGOT_OPS(INGOT_OP_ENUM)
#undef INGOT_OP_ENUM
};

enum class Waits {
  never,
  may,
  // May wait, but is tried first where waiting is not allowed, with reads from memory only
  // (cas/read_tier.hpp): it answers from memory or fails with Errc::would_block, and is then
  // run again where it may wait. For the small reads caches live on.
  memory_first,
  // May wait for another server (an upstream of --mirror): tried from memory first, as
  // memory_first (a mirror hit is a read like any other), then run on a pool of its own, so
  // that a slow upstream never holds the threads the store's work runs on.
  upstream,
};

std::string_view to_string(Op op); // "read_blob", …
Scopes scope_of(Op op);
Waits waits_of(Op op);

struct BatchBlob {
  cas::Digest digest;
  std::string bytes;
};

// One blob's outcome in a batch: an error code and message, or (batch_read) its bytes.
struct BatchResult {
  cas::Digest digest;
  Result<std::string> data;
};

struct RefView {
  std::string name;
  cas::Digest digest;
  bool pinned = false;
  std::int64_t updated_unix_ms = 0;
};

struct RefList {
  std::vector<RefView> refs;
  bool truncated = false;
};

enum class PinRef { no, yes };

struct OpsOptions {
  std::uint64_t max_blob_size = ~std::uint64_t{0};
  // nix-cache-info's Priority: substituters are tried in increasing order (cache.nixos.org
  // says 40).
  unsigned nix_priority = 40;
  // What the page at / names as the version (`ingot --version`'s, with the commit); empty:
  // the project version alone.
  std::string version;
  MirrorOptions mirror; // --mirror, --mirror-ttl
};

class Ops {
public:
  // `releases` may be null: release operations then answer that releases are not configured.
  Ops(cas::Store& store, Metrics& metrics, Releases* releases, OpsOptions options = {});
  ~Ops();
  Ops(const Ops&) = delete;
  Ops& operator=(const Ops&) = delete;

  // Errc::unauthorized when the caller presented nothing and needs a token, Errc::forbidden
  // when their token lacks the scope; the message names the scope.
  [[nodiscard]] Result<void> allow(const Caller& caller, Op op) const;

  // --- blobs and entries ---
  // An ac value that parses as an ActionResult is a hit only while all its blobs are stored
  // (ARCHITECTURE.md "Completeness"). Counts the lookup as a hit or a miss.
  [[nodiscard]] Result<BlobResponse> read_blob(const Caller& caller, const Route& route,
                                               const ReadRequest& request);
  // The size of what a blob route names (WebDAV PROPFIND).
  [[nodiscard]] Result<std::uint64_t> stat_blob(const Caller& caller, const Route& route);
  // Reserves the space (which may evict) before the body arrives: a write with no room is
  // refused before the client sends it.
  [[nodiscard]] Result<std::unique_ptr<UploadSink>>
  open_upload(const Caller& caller, const Route& route, BodyEncoding encoding,
              std::optional<std::uint64_t> content_length);
  // The body has ended: the blob is committed and, for ac and kv, the entry names it.
  [[nodiscard]] Result<cas::Digest> finish_upload(const Caller& caller, const Route& route,
                                                  std::unique_ptr<UploadSink> upload);
  [[nodiscard]] Result<void> remove_blob(const Caller& caller, const Route& route);

  [[nodiscard]] Result<std::vector<cas::Digest>> find_missing(const Caller& caller,
                                                              std::span<const cas::Digest> digests);
  // Blobs over k_max_batch_blob get Errc::too_large each; the whole batch is refused with
  // Errc::too_large when the answer would exceed half of k_max_json_body.
  [[nodiscard]] Result<std::vector<BatchResult>> batch_read(const Caller& caller,
                                                            std::span<const cas::Digest> digests);
  [[nodiscard]] Result<std::vector<BatchResult>> batch_update(const Caller& caller,
                                                              std::span<const BatchBlob> blobs);

  // --- trees and refs ---
  // The serialized REAPI Tree (root and every Directory) of a root Directory digest.
  [[nodiscard]] Result<std::string> get_tree(const Caller& caller, const cas::Digest& root);
  // The stored Directory messages of a tree, the root first, each as its bytes: REAPI GetTree,
  // which leaves out a missing part (only a missing root is Errc::not_found).
  [[nodiscard]] Result<std::vector<std::string>> tree_directories(const Caller& caller,
                                                                  const cas::Digest& root);
  // A ref whose tree lost a blob is not a hit (Errc::not_found naming what is gone).
  [[nodiscard]] Result<RefView> get_ref(const Caller& caller, std::string_view name);
  [[nodiscard]] Result<RefList> list_refs(const Caller& caller, std::string_view prefix);
  // The tree must be complete (Errc::invalid_argument naming what is missing otherwise).
  [[nodiscard]] Result<RefView> put_ref(const Caller& caller, std::string_view name,
                                        const cas::Digest& digest, PinRef pin);
  [[nodiscard]] Result<void> delete_ref(const Caller& caller, std::string_view name);

  // --- releases (JSON in and out: the record is the contract, ARCHITECTURE.md "Signing") ---
  [[nodiscard]] Result<SimpleResponse> publish_release(const Caller& caller, const Route& route,
                                                       std::string_view body);
  [[nodiscard]] Result<SimpleResponse> yank_release(const Caller& caller, const Route& route,
                                                    std::string_view body);
  [[nodiscard]] Result<SimpleResponse> get_release(const Caller& caller, const Route& route);
  [[nodiscard]] Result<SimpleResponse> keys(const Caller& caller);
  [[nodiscard]] Result<SimpleResponse> audit(const Caller& caller);

  // --- the Nix binary cache (server/nix_cache.hpp; nar, .ls, log and realisation files are
  // blobs: read_blob and open_upload) ---
  [[nodiscard]] Result<std::string> nix_cache_info(const Caller& caller);
  // A narinfo, signed by the server's keys, while its nar is stored. Counts a nix lookup.
  [[nodiscard]] Result<std::string> get_narinfo(const Caller& caller, std::string_view hash32);
  [[nodiscard]] Result<void> put_narinfo(const Caller& caller, std::string_view hash32,
                                         std::string_view text);
  // Pins a store path's whole closure against GC (every path must be stored), replacing an
  // earlier pin of the same path; returns how many blobs the pin holds.
  [[nodiscard]] Result<std::size_t> pin_nix(const Caller& caller, std::string_view hash32);
  [[nodiscard]] Result<void> unpin_nix(const Caller& caller, std::string_view hash32);

  // --- the upstream mirror (server/ops/mirror.hpp) ---
  // GET /mirror/NAME/PATH: the upstream's file, from the store or fetched now; with
  // `expected`, exactly those bytes or Errc::mismatch naming both digests.
  [[nodiscard]] Result<BlobResponse> read_mirror(const Caller& caller, const Route& route,
                                                 const ReadRequest& request,
                                                 const std::optional<cas::Hash>& expected);
  // Freezes every file the mirror has fetched as a tree under the ref mirror/NAME/SNAPSHOT
  // (pinned with PinRef::yes), which GET /mirror/NAME@SNAPSHOT/ serves and pull-tree fetches.
  [[nodiscard]] Result<MirrorSnapshot> snapshot_mirror(const Caller& caller, std::string_view name,
                                                       std::string_view snapshot, PinRef pin);
  // The admin's fix for one path (`ingot mirror override`): served as `digest` until removed;
  // both are written to the audit log.
  [[nodiscard]] Result<void> override_mirror(const Caller& caller, const Route& route,
                                             const cas::Digest& digest);
  [[nodiscard]] Result<void> remove_mirror_override(const Caller& caller, const Route& route);
  // The mirror route of a URL below a configured upstream's (Remote Asset's FetchBlob asks
  // for URLs): nullopt when no mirror's URL is a prefix of it; Errc::invalid_argument when its
  // path is not one /mirror/NAME/ accepts. Reads no store.
  [[nodiscard]] Result<std::optional<Route>> mirror_route_for(std::string_view url) const;

  // --- admin ---
  [[nodiscard]] Result<StoreSnapshot> stats(const Caller& caller);
  [[nodiscard]] Result<cas::GcReport> gc(const Caller& caller, const cas::GcOptions& options);
  // The HTML page at `/` (server/status_page.hpp): the figures /v1/stats reports, and usage
  // examples naming `host`, the address the caller used.
  [[nodiscard]] Result<std::string> status_page(const Caller& caller, std::string_view host,
                                                Tls tls);

  Metrics& metrics() { return m_metrics; }

private:
  // allow(), and for an operation that may wait, the check that this thread may block.
  [[nodiscard]] Result<void> enter(const Caller& caller, Op op) const;
  [[nodiscard]] Result<Releases*> releases_for(const Caller& caller, Op op) const;
  void count(Lookup where, bool hit);
  // put_ref after its checks: the closure must be stored; pins it or unpins it.
  [[nodiscard]] Result<RefView> write_ref(std::string_view name, const cas::Digest& digest,
                                          PinRef pin);

  cas::Store& m_store;
  Metrics& m_metrics;
  Releases* m_releases;
  OpsOptions m_options;
  std::unique_ptr<NixCache> m_nix;
  std::unique_ptr<MirrorCache> m_mirror; // null without --mirror
};

} // namespace ingot::server
