#include "server/blob_read.hpp"

#include "reapi.pb.h"
#include "server/http_fields.hpp"

#include <cstdio>

namespace ingot::server {

namespace {

namespace reapi = build::bazel::remote::execution::v2;

// Largest ActionResult (or Tree it names) parsed for the completeness check; larger values are
// served as opaque bytes. Real ActionResults are a few KiB.
constexpr std::uint64_t k_max_action_result = 16u << 20;

// nullopt: not a reference a client could rely on (malformed hash), so not an ActionResult.
std::optional<cas::Digest> digest_of(const reapi::Digest& d) {
  auto parsed = cas::parse_digest(d.hash(), static_cast<std::uint64_t>(d.size_bytes()));
  if (!parsed || d.size_bytes() < 0) {
    return std::nullopt;
  }
  return *parsed;
}

bool present(cas::Store& store, const cas::Digest& d) {
  auto info = store.stat(d.hash);
  return info && info->digest.size == d.size;
}

// ccache's and other clients' opaque /ac/ values rarely parse as protobuf; those that do by
// accident are told apart by requiring no unknown fields and well-formed digests throughout.
bool strict_parse(google::protobuf::MessageLite& msg, const std::string& bytes) {
  return msg.ParseFromString(bytes) && msg.IsInitialized();
}

Error incomplete(const Route& route, const cas::Digest& missing) {
  return make_error(Errc::not_found, "action result " + route.key + " refers to blob " +
                                         missing.to_string() + ", which is gone");
}

// Returns an error when `value` is an ActionResult that refers to a missing blob; ok for
// complete results and for values that are not ActionResults at all.
Result<void> check_action_result(cas::Store& store, const Route& route, const cas::Digest& value) {
  if (value.size == 0 || value.size > k_max_action_result) {
    return {};
  }
  auto bytes = store.get(value.hash);
  if (!bytes) {
    return std::move(bytes).error();
  }
  reapi::ActionResult result;
  if (!strict_parse(result, *bytes) || !result.GetReflection()->GetUnknownFields(result).empty()) {
    return {};
  }
  std::vector<cas::Digest> refs;
  auto add = [&refs](const reapi::Digest& d, bool required) {
    if (!required && d.hash().empty()) {
      return true;
    }
    auto digest = digest_of(d);
    if (digest) {
      refs.push_back(*digest);
    }
    return digest.has_value();
  };
  bool well_formed = true;
  for (const auto& f : result.output_files()) {
    well_formed &= f.contents().empty() ? add(f.digest(), true) : true;
  }
  for (const auto& d : result.output_directories()) {
    well_formed &= add(d.tree_digest(), true);
  }
  well_formed &= add(result.stdout_digest(), false) && add(result.stderr_digest(), false);
  if (!well_formed) {
    return {}; // not an ActionResult after all: opaque bytes
  }
  for (const auto& ref : refs) {
    if (!present(store, ref)) {
      return incomplete(route, ref);
    }
  }
  // A Tree's files are outputs too: a result whose directory lost a file is not a hit.
  for (const auto& d : result.output_directories()) {
    const auto tree_digest = digest_of(d.tree_digest());
    if (!tree_digest || tree_digest->size > k_max_action_result) {
      continue;
    }
    auto tree_bytes = store.get(tree_digest->hash);
    reapi::Tree tree;
    if (!tree_bytes || !tree.ParseFromString(*tree_bytes)) {
      continue;
    }
    auto check_dir = [&](const reapi::Directory& dir) -> Result<void> {
      for (const auto& file : dir.files()) {
        const auto fd = digest_of(file.digest());
        if (fd && !present(store, *fd)) {
          return incomplete(route, *fd);
        }
      }
      return {};
    };
    INGOT_TRY(check_dir(tree.root()));
    for (const auto& child : tree.children()) {
      INGOT_TRY(check_dir(child));
    }
  }
  return {};
}

} // namespace

Result<cas::Hash> resolve_blob(cas::Store& store, const Route& route) {
  if (route.kind == RouteKind::cas) {
    return route.hash;
  }
  const auto ns = route.kind == RouteKind::ac    ? cas::Namespace::ac
                  : route.kind == RouteKind::nix ? cas::Namespace::nix
                                                 : cas::Namespace::kv;
  auto entry = store.ns_get(ns, route.key);
  if (!entry) {
    return std::move(entry).error();
  }
  if (route.kind == RouteKind::ac) {
    INGOT_TRY(check_action_result(store, route, entry->value));
  }
  return entry->value.hash;
}

Result<BlobResponse> open_blob(cas::Store& store, const cas::Hash& hash,
                               const ReadRequest& request) {
  BlobResponse out;
  auto reader = store.open_read(hash, [&](const cas::BlobInfo& info) {
    out.digest = info.digest;
    cas::ReadOptions options;
    switch (request.range.empty() ? RangeResult::none
                                  : parse_range(request.range, info.digest.size, out.range)) {
    case RangeResult::ok:
      out.status = 206;
      options.offset = out.range.offset;
      options.length = out.range.length;
      break;
    case RangeResult::unsatisfiable:
      out.status = 416;
      break;
    case RangeResult::none:
      if (info.codec == cas::Codec::zstd && accepts_zstd(request.accept_encoding)) {
        out.zstd = true;
        options.view = cas::View::stored;
      }
      break;
    }
    return options;
  });
  if (!reader) {
    return std::move(reader).error();
  }
  if (out.status != 416) {
    out.reader = std::move(*reader);
  }
  return out;
}

void add_blob_fields(ResponseHead& head, const BlobResponse& response) {
  if (response.status == 206) {
    const auto& r = response.range;
    char range[80];
    const int n = std::snprintf(range, sizeof range, "bytes %llu-%llu/%llu",
                                static_cast<unsigned long long>(r.offset),
                                static_cast<unsigned long long>(r.offset + r.length - 1),
                                static_cast<unsigned long long>(response.digest.size));
    head.field("Content-Range", {range, static_cast<std::size_t>(n)});
  }
  if (response.zstd) {
    head.field("Content-Encoding", "zstd");
  }
  if (!response.mirror.empty()) {
    head.field("X-Ingot-Mirror", response.mirror);
  }
  head.field("Content-Type", "application/octet-stream")
      .field("Accept-Ranges", "bytes")
      .quoted_hex_field("ETag", response.digest.hash)
      .field("Vary", "Accept-Encoding");
}

} // namespace ingot::server
