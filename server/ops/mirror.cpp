#include "server/ops/mirror.hpp"

#include "cas/read_tier.hpp"
#include "server/ops/ops.hpp"
#include "server/releases.hpp"
#include "server/route.hpp"
#include "util/hex.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace ingot::server {

struct MirrorCache::Fetched {
  Record record;
  std::string_view state; // miss, revalidated or stale
};

// A fetch under way: whoever asks for the same path meanwhile waits for its outcome.
struct MirrorCache::Flight {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::optional<Result<Fetched>> outcome;
};

namespace {

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Bytes of a 2xx answer, streamed into a blob; over the limit is an error, not a truncation.
class Collector final : public UpstreamBody {
public:
  Collector(cas::Store& store, std::uint64_t max_size) : m_store(store), m_max_size(max_size) {}

  Result<void> restart() override {
    auto writer = m_store.begin_write();
    if (!writer) {
      m_failed = true;
      return std::move(writer).error();
    }
    m_writer = std::move(*writer);
    m_size = 0;
    return {};
  }

  Result<void> write(ByteView bytes) override {
    if (!m_writer) {
      INGOT_TRY(restart());
    }
    m_size += bytes.size();
    if (m_size > m_max_size) {
      m_failed = true;
      return make_error(Errc::too_large, "the file is larger than --max-blob-size (" +
                                             std::to_string(m_max_size) + " bytes)");
    }
    auto appended = m_writer->append(bytes);
    m_failed = m_failed || !appended;
    return appended;
  }

  // Whether an error came from here (the store, the size limit), not from the upstream.
  bool failed() const { return m_failed; }
  // Whether a 2xx body began: the upstream answered, whatever cut it short afterwards.
  bool began() const { return m_writer != nullptr; }

  // The blob, committed: the bytes as they came (also an empty body).
  Result<cas::Digest> commit() {
    if (!m_writer) {
      INGOT_TRY(restart());
    }
    return m_writer->commit();
  }

private:
  cas::Store& m_store;
  std::uint64_t m_max_size;
  std::unique_ptr<cas::BlobWriter> m_writer;
  std::uint64_t m_size = 0;
  bool m_failed = false;
};

// Whole seconds, rounded up: "in 0 s" would read as "now".
long long seconds_up(std::chrono::steady_clock::duration d) {
  return std::chrono::ceil<std::chrono::seconds>(d).count();
}

// The pin set that keeps an override's blob.
std::string override_pin(const std::string& entry) {
  return "override/" + entry;
}

} // namespace

MirrorCache::MirrorCache(cas::Store& store, MirrorOptions options, std::uint64_t max_blob_size)
    : m_store(store), m_options(std::move(options)), m_max_blob_size(max_blob_size) {}

Result<std::optional<MirrorCache::Record>> MirrorCache::load(const std::string& entry) {
  {
    std::lock_guard lock(m_records_mutex);
    if (const auto cached = m_records.find(entry); cached != m_records.end()) {
      return std::optional<Record>(cached->second);
    }
  }
  auto loaded = load_stored(entry);
  if (loaded && *loaded) {
    remember(entry, **loaded);
  }
  return loaded;
}

void MirrorCache::remember(const std::string& entry, const Record& record) {
  std::lock_guard lock(m_records_mutex);
  if (m_records.size() >= k_max_cached_records) {
    m_records.clear(); // simpler than an LRU, and rare: what is hot comes back at once
  }
  m_records.insert_or_assign(entry, record);
}

Result<std::optional<MirrorCache::Record>> MirrorCache::load_stored(const std::string& entry) {
  auto found = m_store.ns_get(cas::Namespace::kv, entry);
  if (!found) {
    if (found.error().code == Errc::not_found) {
      return std::optional<Record>();
    }
    return std::move(found).error();
  }
  auto text = m_store.get(found->value.hash);
  if (!text) {
    if (text.error().code == Errc::not_found) {
      return std::optional<Record>(); // evicted: fetched again
    }
    return std::move(text).error();
  }
  const auto json = nlohmann::json::parse(*text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return std::optional<Record>(); // not one of ours: fetched again, and replaced
  }
  if (json.value("gone", false)) {
    Record gone;
    gone.gone = true;
    gone.url = json.value("url", "");
    gone.fetched_unix_ms = json.value("fetched_unix_ms", std::int64_t{0});
    gone.record_blob = found->value.hash;
    return std::optional<Record>(std::move(gone));
  }
  auto digest = cas::parse_digest(json.value("sha256", ""), json.value("size", std::uint64_t{0}));
  if (!digest) {
    return std::optional<Record>();
  }
  Record record;
  record.overridden = json.value("override", false);
  record.digest = *digest;
  record.url = json.value("url", "");
  record.etag = json.value("etag", "");
  record.last_modified = json.value("last_modified", "");
  record.fetched_unix_ms = json.value("fetched_unix_ms", std::int64_t{0});
  record.by = json.value("by", "");
  record.record_blob = found->value.hash;
  return std::optional<Record>(std::move(record));
}

Result<void> MirrorCache::save(const std::string& entry, const Record& record) {
  nlohmann::json json{{"url", record.url}, {"fetched_unix_ms", record.fetched_unix_ms}};
  if (record.gone) {
    json["gone"] = true;
  } else {
    if (record.overridden) {
      json["override"] = true;
      json["by"] = record.by;
    }
    json["sha256"] = record.digest.hex();
    json["size"] = record.digest.size;
    json["etag"] = record.etag;
    json["last_modified"] = record.last_modified;
  }
  // Header values from an upstream may hold bytes that are not UTF-8 (obs-text): replaced,
  // never an exception.
  const auto text = json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto stored = m_store.put(as_bytes(text));
  if (!stored) {
    return std::move(stored).error();
  }
  INGOT_TRY(m_store.ns_put(cas::Namespace::kv, entry, *stored));
  Record kept = record;
  kept.record_blob = stored->hash;
  remember(entry, kept);
  return {};
}

Result<void> MirrorCache::check_known(std::string_view name) const {
  if (std::find(m_options.names.begin(), m_options.names.end(), name) != m_options.names.end()) {
    return {};
  }
  std::string names;
  for (const auto& n : m_options.names) {
    names += (names.empty() ? "" : ", ") + n;
  }
  return make_error(Errc::not_found, "no mirror named '" + std::string(name) + "' (configured: " +
                                         (names.empty() ? "none; add --mirror NAME=URL" : names) +
                                         ")");
}

bool MirrorCache::is_mutable(std::string_view name, std::string_view key) const {
  const auto globs = m_options.mutable_globs.find(name);
  return globs == m_options.mutable_globs.end() ? is_mutable_path(key)
                                                : is_mutable_path(key, globs->second);
}

std::optional<std::string> MirrorCache::down_message(std::string_view name) {
  std::lock_guard lock(m_down_mutex);
  const auto down = m_down.find(name);
  const auto now = std::chrono::steady_clock::now();
  if (down == m_down.end()) {
    return std::nullopt;
  }
  if (now >= down->second.retry_at && !down->second.probing) {
    // One request asks again; the others keep being answered at once until it is done.
    down->second.probing = true;
    return std::nullopt;
  }
  if (now >= down->second.retry_at) {
    return "mirror " + std::string(name) + " failed " +
           std::to_string(seconds_up(now - down->second.failed_at)) + " s ago (" +
           down->second.why + "); it is being asked again now";
  }
  return "mirror " + std::string(name) + " failed " +
         std::to_string(seconds_up(now - down->second.failed_at)) + " s ago (" + down->second.why +
         "); it is asked again in " + std::to_string(seconds_up(down->second.retry_at - now)) +
         " s";
}

void MirrorCache::upstream_failed(std::string_view name, const std::string& url,
                                  const std::string& why) {
  const auto now = std::chrono::steady_clock::now();
  std::chrono::seconds backoff{0};
  {
    std::lock_guard lock(m_down_mutex);
    auto& down = m_down[std::string(name)];
    if (now < down.retry_at) {
      return; // a fetch under way when another failure marked it down: already counted
    }
    // Doubled while it keeps failing; a failure long after the last one starts over.
    const bool again = down.backoff.count() != 0 && now <= down.retry_at + down.backoff;
    backoff = again ? std::min(down.backoff * 2, m_options.max_retry_after) : m_options.retry_after;
    down.probing = false;
    down.failed_at = now;
    down.retry_at = now + backoff;
    down.backoff = backoff;
    down.why = url + ": " + why;
  }
  std::fprintf(stderr,
               "ingot: mirror: %s is down (%s: %s); not asked again for %lld s, stored copies "
               "are served meanwhile\n",
               std::string(name).c_str(), url.c_str(), why.c_str(),
               static_cast<long long>(backoff.count()));
}

void MirrorCache::upstream_answered(std::string_view name) {
  std::lock_guard lock(m_down_mutex);
  if (const auto down = m_down.find(name); down != m_down.end()) {
    std::fprintf(stderr, "ingot: mirror: %s answers again\n", std::string(name).c_str());
    m_down.erase(down);
  }
}

Result<BlobResponse> MirrorCache::read(std::string_view name, std::string_view key,
                                       std::string_view raw, const ReadRequest& request,
                                       const std::optional<cas::Hash>& expected) {
  INGOT_TRY(check_known(name));
  const std::string entry = "mirror/" + std::string(name) + "/" + std::string(key);
  auto prior = load(entry);
  if (!prior) {
    return std::move(prior).error();
  }
  if (*prior) {
    // Served from memory, the record's own blob would look unused to GC, and its entry go
    // with it: it is used, as the content is.
    m_store.touch((*prior)->record_blob);
  }
  const auto open = [&](const Record& record, std::string_view state) -> Result<BlobResponse> {
    if (record.gone) {
      // An unsigned apt repository has no InRelease: apt asks, gets 404, and goes on to
      // Release. Were that 404 a 502 while the upstream is down, apt would stop there.
      return make_error(Errc::not_found, "upstream " + record.url + " has no such file (" +
                                             std::string(state) + ")");
    }
    auto blob = open_blob(m_store, record.digest.hash, request);
    if (blob) {
      blob->mirror = state;
    }
    return blob;
  };
  if (*prior && (*prior)->overridden) {
    // Chosen by an admin: served as it is, whatever the upstream says.
    if (expected && *expected != (*prior)->digest.hash) {
      return make_error(Errc::mismatch, "mirror " + std::string(name) + " serves " +
                                            std::string(key) + " as " + (*prior)->digest.hex() +
                                            " (ingot mirror override), not the expected " +
                                            to_hex(*expected));
    }
    return open(**prior, "override");
  }
  if (*prior && (!expected || (!(*prior)->gone && *expected == (*prior)->digest.hash))) {
    const auto age = std::chrono::milliseconds(now_unix_ms() - (*prior)->fetched_unix_ms);
    // A remembered 404 is asked again after the TTL on any path: a file may be published
    // later under a name asked for too early.
    if ((!is_mutable(name, key) && !(*prior)->gone) || age < m_options.ttl) {
      // One index lookup per hit, the open's, as GET /cas: content that GC evicted is not
      // found there, and the path is then fetched again.
      auto hit = open(**prior, "hit");
      if (hit || hit.error().code != Errc::not_found || (*prior)->gone) {
        return hit;
      }
      prior->reset();
    }
  }
  if (*prior && !(*prior)->gone && !(*prior)->overridden &&
      !m_store.contains((*prior)->digest.hash)) {
    prior->reset(); // evicted: a conditional GET would only confirm bytes that are gone
  }
  if (cas::memory_only_reads()) {
    // The upstream must be asked: never from a thread that may not wait.
    return make_error(Errc::would_block, "the upstream must be asked");
  }
  auto fetched = fetch(name, entry, raw, *prior, expected);
  if (!fetched) {
    return std::move(fetched).error();
  }
  auto blob = open(fetched->record, fetched->state);
  if (!blob && blob.error().code == Errc::not_found && !fetched->record.gone) {
    // Evicted between its fetch and this read (a cache far smaller than its traffic).
    return make_error(Errc::busy, "the file was evicted as soon as it was fetched; retry");
  }
  return blob;
}

Result<void> MirrorCache::set_override(std::string_view name, std::string_view key,
                                       const cas::Digest& digest, std::string_view who) {
  INGOT_TRY(check_known(name));
  if (!m_store.contains(digest.hash)) {
    return make_error(Errc::invalid_argument,
                      "blob " + digest.to_string() + " is not stored: upload it first (ingot put)");
  }
  Record record;
  record.overridden = true;
  record.digest = digest;
  record.url = m_options.upstreams->url(name, key);
  record.fetched_unix_ms = now_unix_ms();
  record.by = std::string(who);
  const std::string entry = "mirror/" + std::string(name) + "/" + std::string(key);
  // Pinned: GC must not take the fix away and let the broken upstream file back in.
  INGOT_TRY(m_store.pin(override_pin(entry), {digest.hash}));
  return save(entry, record);
}

Result<void> MirrorCache::remove_override(std::string_view name, std::string_view key) {
  INGOT_TRY(check_known(name));
  const std::string entry = "mirror/" + std::string(name) + "/" + std::string(key);
  auto record = load(entry);
  if (!record) {
    return std::move(record).error();
  }
  if (!*record || !(*record)->overridden) {
    return make_error(Errc::not_found,
                      "mirror " + std::string(name) + " has no override for " + std::string(key));
  }
  // The store first: a read between the two would otherwise put the override back in memory.
  INGOT_TRY(m_store.ns_remove(cas::Namespace::kv, entry));
  {
    std::lock_guard lock(m_records_mutex);
    m_records.erase(entry);
  }
  return m_store.unpin(override_pin(entry));
}

Result<MirrorCache::Fetched> MirrorCache::fetch(std::string_view name, const std::string& entry,
                                                std::string_view raw,
                                                const std::optional<Record>& prior,
                                                const std::optional<cas::Hash>& expected) {
  // Only one fetch of a path at a time, and only one for requests with no expected digest
  // (one with an expected digest must see bytes that match it, so it does not share).
  const std::string flight_key = entry + (expected ? "?" + to_hex(*expected) : std::string());
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    std::lock_guard lock(m_mutex);
    auto& slot = m_flights[flight_key];
    if (!slot) {
      slot = std::make_shared<Flight>();
      leader = true;
    }
    flight = slot;
  }
  if (!leader) {
    std::unique_lock lock(flight->mutex);
    flight->done_cv.wait(lock, [&] { return flight->done; });
    return *flight->outcome;
  }
  // Whatever happens, the followers get an outcome and the flight ends: a flight left
  // behind would hold every later request for this path.
  Result<Fetched> outcome = make_error(Errc::io, "the fetch did not finish");
  try {
    outcome = fetch_once(name, entry, raw, prior, expected);
  } catch (const std::exception& e) {
    outcome = make_error(Errc::io, std::string("fetching ") + entry + ": " + e.what());
  }
  {
    std::lock_guard lock(m_mutex);
    m_flights.erase(flight_key);
  }
  {
    std::lock_guard lock(flight->mutex);
    flight->outcome = outcome;
    flight->done = true;
  }
  flight->done_cv.notify_all();
  return outcome;
}

Result<MirrorCache::Fetched> MirrorCache::fetch_once(std::string_view name,
                                                     const std::string& entry, std::string_view raw,
                                                     const std::optional<Record>& prior,
                                                     const std::optional<cas::Hash>& expected) {
  auto& upstreams = *m_options.upstreams;
  const auto url = upstreams.url(name, raw);
  // A stored copy that matches what is expected may be revalidated; one that does not is
  // fetched whole.
  // A copy to fall back on: stored bytes (matching what is expected), or a remembered 404.
  const bool usable = prior && (!expected || (!prior->gone && *expected == prior->digest.hash));
  const bool has_bytes = usable && !prior->gone;
  UpstreamGet get{std::string(raw), has_bytes ? prior->etag : "",
                  has_bytes ? prior->last_modified : ""};
  if (auto down = down_message(name)) {
    // Asked lately, in vain: the stored copy at once, not after another --read-timeout.
    if (usable) {
      return Fetched{*prior, "stale"};
    }
    return make_error(Errc::upstream, "upstream " + url + " not asked: " + *down);
  }
  Collector body(m_store, m_max_blob_size);
  auto answer = upstreams.get(name, get, body);
  const auto stale = [&](const std::string& why) -> Result<Fetched> {
    std::fprintf(stderr, "ingot: mirror: %s: %s; serving the copy fetched before\n", url.c_str(),
                 why.c_str());
    return Fetched{*prior, "stale"};
  };
  if (!answer) {
    // Unreachable or silent, or an answer that cannot be used (too large, a redirect refused).
    // Only a configured upstream that gave no answer at all is marked down: not one whose
    // body was cut short, nor one whose redirect led to a host that failed (Errc::upstream).
    const bool unreachable =
        !body.failed() && !body.began() &&
        (answer.error().code == Errc::io || answer.error().code == Errc::timeout);
    if (unreachable) {
      upstream_failed(name, url, answer.error().message);
    } else {
      upstream_answered(name);
    }
    const auto why =
        unreachable ? "unreachable: " + answer.error().message : answer.error().message;
    if (usable) {
      return stale(why);
    }
    return make_error(Errc::upstream, "upstream " + url + (unreachable ? " " : ": ") + why);
  }
  upstream_answered(name);
  const auto status = answer->status;
  // An override set while the upstream was asked wins, if it is what is expected.
  const auto overridden_meanwhile = [&]() -> std::optional<Result<Fetched>> {
    auto now = load_stored(entry);
    if (!now || !*now || !(*now)->overridden) {
      return std::nullopt;
    }
    if (expected && *expected != (*now)->digest.hash) {
      return Result<Fetched>(make_error(Errc::mismatch, "mirror " + std::string(name) +
                                                            " serves this path as " +
                                                            (*now)->digest.hex() +
                                                            " (ingot mirror override), not the "
                                                            "expected " +
                                                            to_hex(*expected)));
    }
    return Result<Fetched>(Fetched{**now, "override"});
  };
  if (status == 304 && has_bytes) {
    if (auto overridden = overridden_meanwhile()) {
      return std::move(*overridden);
    }
    Record record = *prior;
    record.fetched_unix_ms = now_unix_ms();
    INGOT_TRY(save(entry, record));
    return Fetched{record, "revalidated"};
  }
  if (status == 200) {
    auto digest = body.commit();
    if (!digest) {
      return std::move(digest).error();
    }
    if (auto overridden = overridden_meanwhile()) {
      return std::move(*overridden);
    }
    if (expected && digest->hash != *expected) {
      return make_error(Errc::mismatch, "upstream " + url + " sent bytes with sha256 " +
                                            digest->hex() + ", not the expected " +
                                            to_hex(*expected) + "; nothing was recorded");
    }
    Record record;
    record.digest = *digest;
    record.url = url;
    record.etag = answer->etag;
    record.last_modified = answer->last_modified;
    record.fetched_unix_ms = now_unix_ms();
    INGOT_TRY(save(entry, record));
    return Fetched{record, "miss"};
  }
  if ((status == 404 || status == 410) && !has_bytes) {
    // Remembered, so that it is still a 404 when the upstream is down.
    Record record;
    record.gone = true;
    record.url = url;
    record.fetched_unix_ms = now_unix_ms();
    if (!expected) {
      INGOT_TRY(save(entry, record));
    }
    return Fetched{record, "miss"};
  }
  if (usable) {
    return stale("answered " + std::to_string(status));
  }
  return make_error(Errc::upstream, "upstream " + url + " answered " + std::to_string(status));
}

Result<BlobResponse> Ops::read_mirror(const Caller& caller, const Route& route,
                                      const ReadRequest& request,
                                      const std::optional<cas::Hash>& expected) {
  INGOT_TRY(enter(caller, Op::read_mirror));
  if (!m_mirror) {
    return make_error(Errc::not_found,
                      "no mirror is configured: ingot serve --mirror NAME=URL serves one at "
                      "/mirror/NAME/");
  }
  if (!route.snapshot.empty()) {
    return m_mirror->read_snapshot(route.mirror, route.snapshot, route.key, request);
  }
  return m_mirror->read(route.mirror, route.key, route.raw, request, expected);
}

Result<void> Ops::override_mirror(const Caller& caller, const Route& route,
                                  const cas::Digest& digest) {
  INGOT_TRY(enter(caller, Op::mirror_override));
  if (!m_mirror) {
    return make_error(Errc::not_found, "no mirror is configured");
  }
  INGOT_TRY(m_mirror->set_override(route.mirror, route.key, digest, caller.name));
  std::fprintf(stderr, "ingot: mirror: %s/%s is served as %s (override by %s)\n",
               route.mirror.c_str(), route.key.c_str(), digest.to_string().c_str(),
               caller.name.empty() ? "anonymous" : caller.name.c_str());
  if (m_releases != nullptr) {
    INGOT_TRY(m_releases->append_audit("mirror override", {{"token", caller.name},
                                                           {"mirror", route.mirror},
                                                           {"path", route.key},
                                                           {"digest", digest.to_string()}}));
  }
  return {};
}

Result<void> Ops::remove_mirror_override(const Caller& caller, const Route& route) {
  INGOT_TRY(enter(caller, Op::mirror_override));
  if (!m_mirror) {
    return make_error(Errc::not_found, "no mirror is configured");
  }
  INGOT_TRY(m_mirror->remove_override(route.mirror, route.key));
  std::fprintf(stderr, "ingot: mirror: %s/%s override removed by %s\n", route.mirror.c_str(),
               route.key.c_str(), caller.name.empty() ? "anonymous" : caller.name.c_str());
  if (m_releases != nullptr) {
    INGOT_TRY(m_releases->append_audit(
        "mirror override removed",
        {{"token", caller.name}, {"mirror", route.mirror}, {"path", route.key}}));
  }
  return {};
}

Result<std::optional<Route>> Ops::mirror_route_for(std::string_view url) const {
  if (!m_mirror) {
    return std::optional<Route>();
  }
  return m_mirror->route_for(url);
}

} // namespace ingot::server
