// Operations on blobs and on the ac and kv entries that name them.
#include "cas/read_tier.hpp"
#include "server/api.hpp"
#include "server/ops/ops.hpp"
#include "server/releases.hpp"
#include "server/route.hpp"

namespace ingot::server {

namespace {

// The hit rate a read counts towards: a release's file counts as a cas lookup. A nix file is
// not a lookup of its own: the narinfo before it is (nix HEADs a nar to decide whether to
// upload it, which is no cache miss).
std::optional<Lookup> read_lookup(RouteKind kind) {
  if (kind == RouteKind::nix) {
    return std::nullopt;
  }
  return lookup_of(kind).value_or(Lookup::cas);
}

// The entry a PUT of an ac or kv route writes after the blob; none for a cas route.
std::optional<cas::Namespace> namespace_of(RouteKind kind) {
  if (kind == RouteKind::ac) {
    return cas::Namespace::ac;
  }
  if (kind == RouteKind::kv) {
    return cas::Namespace::kv;
  }
  if (kind == RouteKind::nix) {
    return cas::Namespace::nix;
  }
  return std::nullopt;
}

Error not_a_blob_route(const Route& route) {
  return make_error(Errc::invalid_argument,
                    std::string(to_string(route.kind)) + " does not name a blob");
}

bool is_blob_route(const Route& route) {
  return route.kind == RouteKind::cas || route.kind == RouteKind::ac ||
         route.kind == RouteKind::kv || route.kind == RouteKind::nix;
}

} // namespace

Result<BlobResponse> Ops::read_blob(const Caller& caller, const Route& route,
                                    const ReadRequest& request) {
  INGOT_TRY(enter(caller, Op::read_blob));
  if (cas::memory_only_reads() && route.kind != RouteKind::cas && route.kind != RouteKind::kv &&
      route.kind != RouteKind::nix) {
    // An ActionResult's completeness check and a release's record are not worth trying from
    // memory: they read several records, and a "not there" from memory proves nothing.
    return make_error(Errc::would_block, "read from the disk");
  }
  Result<cas::Hash> hash = not_a_blob_route(route);
  if (route.kind == RouteKind::releases && Releases::is_file(route)) {
    // A file of a release is served as the CAS blob its record names (Range and zstd apply).
    auto releases = releases_for(caller, Op::read_release);
    auto digest = releases ? (*releases)->file_digest(m_store, route)
                           : Result<cas::Digest>(std::move(releases).error());
    hash = digest ? Result<cas::Hash>(digest->hash) : Result<cas::Hash>(std::move(digest).error());
  } else if (is_blob_route(route)) {
    hash = resolve_blob(m_store, route);
  }
  Result<BlobResponse> blob =
      hash ? open_blob(m_store, *hash, request) : Result<BlobResponse>(std::move(hash).error());
  if (!blob && blob.error().code == Errc::would_block) {
    return blob; // not a lookup yet: it is made again where it may wait
  }
  if (const auto lookup = read_lookup(route.kind)) {
    count(*lookup, blob.has_value());
  }
  return blob;
}

Result<std::uint64_t> Ops::stat_blob(const Caller& caller, const Route& route) {
  INGOT_TRY(enter(caller, Op::stat_blob));
  if (!is_blob_route(route)) {
    return not_a_blob_route(route);
  }
  auto hash = resolve_blob(m_store, route);
  if (!hash) {
    return std::move(hash).error();
  }
  auto info = m_store.stat(*hash);
  if (!info) {
    return std::move(info).error();
  }
  return info->digest.size;
}

namespace {

// The mirror keeps its records as kv entries under mirror/ (server/ops/mirror.cpp): readable
// like any kv key, written by the mirror alone, so that no kv writer can swap what it serves.
Result<void> not_the_mirrors(const Route& route) {
  if (route.kind == RouteKind::kv && route.key.starts_with("mirror/")) {
    return make_error(Errc::forbidden, "kv keys under mirror/ are written by the mirror "
                                       "(--mirror) alone: choose another key");
  }
  return {};
}

} // namespace

Result<std::unique_ptr<UploadSink>> Ops::open_upload(const Caller& caller, const Route& route,
                                                     BodyEncoding encoding,
                                                     std::optional<std::uint64_t> content_length) {
  INGOT_TRY(enter(caller, Op::write_blob));
  if (!is_blob_route(route)) {
    return not_a_blob_route(route);
  }
  INGOT_TRY(not_the_mirrors(route));
  return UploadSink::open(m_store, route, encoding, content_length, m_options.max_blob_size);
}

Result<cas::Digest> Ops::finish_upload(const Caller& caller, const Route& route,
                                       std::unique_ptr<UploadSink> upload) {
  INGOT_TRY(enter(caller, Op::write_blob));
  INGOT_TRY(upload->finish());
  // The writer (and its lease on a blob uploaded again) lives until the entry is written.
  const auto writer = upload->take_writer();
  auto digest = writer->commit();
  if (!digest) {
    return digest;
  }
  if (const auto ns = namespace_of(route.kind)) {
    if (auto r = m_store.ns_put(*ns, route.key, *digest); !r) {
      if (r.error().code == Errc::not_found) {
        // Stored a moment ago and evicted before the entry could name it: a full cache.
        return make_error(Errc::busy, "the value " + digest->to_string() +
                                          " was evicted before the entry was written; retry");
      }
      return std::move(r).error();
    }
  }
  return digest;
}

Result<void> Ops::remove_blob(const Caller& caller, const Route& route) {
  INGOT_TRY(enter(caller, Op::remove_blob));
  if (!is_blob_route(route)) {
    return not_a_blob_route(route);
  }
  INGOT_TRY(not_the_mirrors(route));
  if (const auto ns = namespace_of(route.kind)) {
    return m_store.ns_remove(*ns, route.key);
  }
  return m_store.remove(route.hash);
}

Result<std::vector<cas::Digest>> Ops::find_missing(const Caller& caller,
                                                   std::span<const cas::Digest> digests) {
  INGOT_TRY(enter(caller, Op::find_missing));
  std::vector<cas::Digest> missing;
  for (const auto& digest : digests) {
    auto info = m_store.stat(digest.hash);
    const bool present = info && info->digest.size == digest.size;
    count(Lookup::cas, present);
    if (present) {
      // Reported present: the client will name it next (in an ac entry, a ref, a tree)
      // without uploading it, so it counts as a use, as a read would.
      m_store.touch(digest.hash);
    } else {
      missing.push_back(digest);
    }
  }
  return missing;
}

Result<std::vector<BatchResult>> Ops::batch_read(const Caller& caller,
                                                 std::span<const cas::Digest> digests) {
  INGOT_TRY(enter(caller, Op::batch_read));
  std::vector<BatchResult> results;
  results.reserve(digests.size());
  std::uint64_t total = 0;
  for (const auto& digest : digests) {
    if (digest.size > k_max_batch_blob) {
      results.push_back(
          {digest, make_error(Errc::too_large, "too large for a batch; GET /cas/" + digest.hex())});
      continue;
    }
    auto data = m_store.get(digest.hash);
    if (!data) {
      count(Lookup::cas, false);
      results.push_back({digest, std::move(data).error()});
      continue;
    }
    if (data->size() != digest.size) {
      results.push_back({digest, make_error(Errc::not_found, "stored blob has another size")});
      continue;
    }
    count(Lookup::cas, true);
    total += data->size();
    if (total > k_max_json_body / 2) {
      return make_error(Errc::too_large, "batch would exceed " +
                                             std::to_string(k_max_json_body / 2) +
                                             " bytes; request fewer blobs at a time");
    }
    results.push_back({digest, std::move(*data)});
  }
  return results;
}

Result<std::vector<BatchResult>> Ops::batch_update(const Caller& caller,
                                                   std::span<const BatchBlob> blobs) {
  INGOT_TRY(enter(caller, Op::batch_update));
  std::vector<BatchResult> results;
  results.reserve(blobs.size());
  for (const auto& blob : blobs) {
    if (blob.digest.size > k_max_batch_blob) {
      results.push_back(
          {blob.digest,
           make_error(Errc::too_large, "too large for a batch; PUT /cas/" + blob.digest.hex())});
    } else if (auto stored = m_store.put(as_bytes(blob.bytes), blob.digest); !stored) {
      results.push_back({blob.digest, std::move(stored).error()});
    } else {
      results.push_back({blob.digest, std::string()});
    }
  }
  return results;
}

} // namespace ingot::server
