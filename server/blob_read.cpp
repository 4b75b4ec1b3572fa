#include "server/blob_read.hpp"

#include "reapi.pb.h"
#include "server/http_fields.hpp"

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
Result<void> check_action_result(cas::Store& store, const Route& route,
                                 const cas::BlobInfo& value) {
  if (value.digest.size == 0 || value.digest.size > k_max_action_result) {
    return {};
  }
  auto bytes = store.get(value.digest.hash);
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

Result<cas::BlobInfo> resolve_blob(cas::Store& store, const Route& route) {
  if (route.kind == RouteKind::cas) {
    return store.stat(route.hash);
  }
  const auto ns = route.kind == RouteKind::ac ? cas::Namespace::ac : cas::Namespace::kv;
  auto entry = store.ns_get(ns, route.key);
  if (!entry) {
    return std::move(entry).error();
  }
  auto info = store.stat(entry->value.hash);
  if (!info) {
    return std::move(info).error();
  }
  if (route.kind == RouteKind::ac) {
    INGOT_TRY(check_action_result(store, route, *info));
  }
  return info;
}

Result<BlobResponse> plan_blob_read(cas::Store& store, const cas::BlobInfo& info,
                                    const ReadRequest& request,
                                    std::optional<Unsatisfiable>& unsatisfiable) {
  const std::uint64_t size = info.digest.size;
  BlobResponse out;
  cas::ReadOptions options;
  ByteRange range;
  switch (request.range.empty() ? RangeResult::none : parse_range(request.range, size, range)) {
  case RangeResult::ok:
    out.status = 206;
    options.offset = range.offset;
    options.length = range.length;
    out.headers.emplace_back("Content-Range", "bytes " + std::to_string(range.offset) + "-" +
                                                  std::to_string(range.offset + range.length - 1) +
                                                  "/" + std::to_string(size));
    break;
  case RangeResult::unsatisfiable:
    unsatisfiable = Unsatisfiable{
        error_response(416, "range not satisfiable for " + std::to_string(size) + " bytes"),
        "bytes */" + std::to_string(size)};
    return out;
  case RangeResult::none:
    if (info.codec == cas::Codec::zstd && accepts_zstd(request.accept_encoding)) {
      options.view = cas::View::stored; // the stored zstd frame, sent as it is
      out.headers.emplace_back("Content-Encoding", "zstd");
    }
    break;
  }
  auto reader = store.open_read(info.digest.hash, options);
  if (!reader) {
    return std::move(reader).error();
  }
  out.reader = std::move(*reader);
  out.headers.emplace_back("Content-Type", "application/octet-stream");
  out.headers.emplace_back("Accept-Ranges", "bytes");
  out.headers.emplace_back("ETag", "\"" + info.digest.hex() + "\"");
  out.headers.emplace_back("Vary", "Accept-Encoding");
  return out;
}

} // namespace ingot::server
