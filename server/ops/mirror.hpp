// The upstream mirror (ARCHITECTURE.md "Mirror"): GET /mirror/NAME/PATH answers with what the
// upstream configured as NAME (--mirror NAME=URL) has at PATH, fetched once and then served
// from the store; repository indexes are revalidated after --mirror-ttl; when the upstream
// fails, the stored copy is served. The policy lives here; the HTTP client that reaches the
// upstreams is the server's (server/mirror_upstreams.cpp), behind `Upstreams`.
#pragma once

#include "cas/store.hpp"
#include "net/transport.hpp"
#include "server/blob_read.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ingot::server {

struct Route;

// One GET of an upstream, conditional when a copy is stored.
struct UpstreamGet {
  std::string path; // below the mirror's URL, percent-encoded as the client sent it
  std::string if_none_match;
  std::string if_modified_since;
};

struct UpstreamAnswer {
  unsigned status = 0;
  std::string etag;
  std::string last_modified;
};

// Takes a 2xx body as it arrives; restarted if the transport tries again. The HTTP
// transport's own interface (no Beast in it), so the transport writes straight into the store.
using UpstreamBody = net::BodySink;

class Upstreams {
public:
  virtual ~Upstreams() = default;
  // Errc::io or Errc::timeout when the upstream cannot be reached or stops answering, the
  // body's own error as it is; any HTTP status is an answer. Called from several threads.
  [[nodiscard]] virtual Result<UpstreamAnswer> get(std::string_view mirror, const UpstreamGet& get,
                                                   UpstreamBody& body) = 0;
  // The URL a path of a mirror is fetched from, for messages and records.
  virtual std::string url(std::string_view mirror, std::string_view path) const = 0;
};

struct MirrorOptions {
  std::vector<std::string> names; // the configured mirrors
  std::chrono::seconds ttl{300};  // how long a mutable path is served before revalidation
  std::shared_ptr<Upstreams> upstreams;
  // --mirror-mutable NAME=GLOB,...: the paths of NAME that change in place, instead of the
  // built-in list; a mirror without an entry uses that list.
  std::map<std::string, std::vector<std::string>, std::less<>> mutable_globs;
  // After an upstream could not be reached (or timed out), it is not asked again for this
  // long, doubled on each failure after that up to the maximum: stored copies are served at
  // once rather than after --read-timeout each. An answer of any status resets it.
  std::chrono::seconds retry_after{10};
  std::chrono::seconds max_retry_after{60};
};

// What `ingot mirror snapshot` made: the ref mirror/NAME/SNAPSHOT naming a tree of every file
// the mirror had fetched.
struct MirrorSnapshot {
  std::string ref;
  cas::Digest root;
  std::size_t files = 0;
  std::size_t skipped = 0; // a file whose name is also a directory's (a/b and a/b/c)
  bool pinned = false;
};

inline std::string mirror_snapshot_ref(std::string_view name, std::string_view snapshot) {
  return "mirror/" + std::string(name) + "/" + std::string(snapshot);
}

// Repository indexes, which change in place at the same path: Release, InRelease,
// Release.gpg, Packages*, Sources*, Contents-*, Translation-*, *.db, *.json, repomd.xml.
// Every other path is immutable once fetched (a package file never changes under its name).
bool is_mutable_path(std::string_view path);

// --mirror-mutable's globs: `*` is any run of characters ('/' included), `?` one character,
// anything else itself. A glob without '/' is matched against the path's last segment
// (`Packages*`), one with '/' against the whole path below the mirror's URL (`dists/*/Release`).
bool glob_matches(std::string_view glob, std::string_view path);
// Whether any of `globs` matches.
bool is_mutable_path(std::string_view path, const std::vector<std::string>& globs);
// "GLOB[,GLOB...]" as --mirror-mutable takes it; Errc::invalid_argument for an empty glob or one
// that starts with '/' (paths are relative to the mirror's URL).
[[nodiscard]] Result<std::vector<std::string>> parse_mutable_globs(std::string_view list);

class MirrorCache {
public:
  MirrorCache(cas::Store& store, MirrorOptions options, std::uint64_t max_blob_size);

  // `name`: a configured mirror; `key`: the decoded path (the entry's name); `raw`: the path
  // as sent, asked of the upstream; `expected`: the SHA-256 the caller requires, if any.
  [[nodiscard]] Result<BlobResponse> read(std::string_view name, std::string_view key,
                                          std::string_view raw, const ReadRequest& request,
                                          const std::optional<cas::Hash>& expected);
  // GET /mirror/NAME@SNAPSHOT/PATH: the snapshot's file, never the upstream's.
  [[nodiscard]] Result<BlobResponse> read_snapshot(std::string_view name, std::string_view snapshot,
                                                   std::string_view key,
                                                   const ReadRequest& request);
  // A tree of every file fetched so far whose bytes are stored, in the store; its root.
  [[nodiscard]] Result<MirrorSnapshot> build_snapshot(std::string_view name);
  // `ingot mirror override`: PATH is served as `digest` (stored), never fetched nor
  // revalidated, until the override is removed; then it is fetched again.
  [[nodiscard]] Result<void> set_override(std::string_view name, std::string_view key,
                                          const cas::Digest& digest, std::string_view who);
  [[nodiscard]] Result<void> remove_override(std::string_view name, std::string_view key);
  [[nodiscard]] Result<void> check_known(std::string_view name) const;
  // Ops::mirror_route_for: the longest configured URL that `url` starts with, then a '/'.
  [[nodiscard]] Result<std::optional<Route>> route_for(std::string_view url) const;

private:
  // What is stored of one fetched path: the kv entry "mirror/NAME/PATH" names a small JSON blob
  // with the content's digest and what revalidation needs. GC may evict the content and keep
  // the record (or drop both): a record whose content is gone is a miss.
  struct Record {
    bool gone = false;       // the upstream answered 404 or 410: remembered, as apt needs (read())
    bool overridden = false; // `ingot mirror override`: served as it is, never fetched
    cas::Digest digest;
    std::string url;
    std::string etag;
    std::string last_modified;
    std::int64_t fetched_unix_ms = 0; // or, for an override, when it was set
    std::string by;                   // an override: the token that set it
    cas::Hash record_blob{};          // the JSON blob the entry names (touched on hits)
  };
  struct Flight;
  struct Fetched;
  // An upstream that could not be reached: not asked again before `retry_at`.
  struct Down {
    std::chrono::steady_clock::time_point failed_at;
    std::chrono::steady_clock::time_point retry_at;
    std::chrono::seconds backoff{0};
    bool probing = false; // past retry_at, one request is asking the upstream again
    std::string why;
  };

  // The record of an entry: from memory, or read from the store and kept in memory.
  [[nodiscard]] Result<std::optional<Record>> load(const std::string& entry);
  [[nodiscard]] Result<std::optional<Record>> load_stored(const std::string& entry);
  void remember(const std::string& entry, const Record& record);
  [[nodiscard]] Result<void> save(const std::string& entry, const Record& record);
  [[nodiscard]] Result<Fetched> fetch(std::string_view name, const std::string& entry,
                                      std::string_view raw, const std::optional<Record>& prior,
                                      const std::optional<cas::Hash>& expected);
  bool is_mutable(std::string_view name, std::string_view key) const;
  // Why the mirror is not asked now, and when it will be, or nothing.
  std::optional<std::string> down_message(std::string_view name);
  void upstream_failed(std::string_view name, const std::string& url, const std::string& why);
  void upstream_answered(std::string_view name);
  [[nodiscard]] Result<Fetched> fetch_once(std::string_view name, const std::string& entry,
                                           std::string_view raw, const std::optional<Record>& prior,
                                           const std::optional<cas::Hash>& expected);

  cas::Store& m_store;
  MirrorOptions m_options;
  std::uint64_t m_max_blob_size;
  // Fetches under way, by entry: a second request for the same path waits for the first.
  std::mutex m_mutex;
  std::map<std::string, std::shared_ptr<Flight>, std::less<>> m_flights;
  // Records in memory: a hit then costs no index lookup nor JSON. Only this class writes
  // them (kv writes under mirror/ are refused), so the copy here is never stale; GC may
  // evict a record's content, which read() checks each time.
  static constexpr std::size_t k_max_cached_records = 200'000;
  std::mutex m_records_mutex;
  std::unordered_map<std::string, Record> m_records;
  // Mirrors whose upstream failed lately, by name.
  std::mutex m_down_mutex;
  std::map<std::string, Down, std::less<>> m_down;
};

} // namespace ingot::server
