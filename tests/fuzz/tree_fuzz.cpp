// Client bytes that the server parses as REAPI protos: a Directory reached from a tree or a ref
// (tree_closure, get_tree, put_ref) and an ActionResult under /ac/ (the completeness check of
// resolve_blob); and ref PUT bodies. Input: a mode byte, then
//   mode even: the bytes of one blob, stored, then read as a Directory and as an ActionResult;
//   mode odd:  a ref name line, then a ref PUT body (JSON).
// The store holds "hello\n" and "world\n" (and, as always, the empty blob), so seeds can name
// files and subdirectories that exist.
#include "cas/digest.hpp"
#include "fuzz_support.hpp"
#include "reapi.pb.h"
#include "server/blob_read.hpp"
#include "server/metrics.hpp"
#include "server/ops/ops.hpp"
#include "server/refs.hpp"

#include <google/protobuf/stubs/logging.h>
#include <set>

#include <nlohmann/json.hpp>

using namespace ingot;
using namespace ingot::server;
namespace reapi = build::bazel::remote::execution::v2;

namespace {

const Caller k_caller = Caller::with(k_scope_admin);

// The operations over the process's one store (the targets never use another).
Ops& ops_over(cas::Store& st) {
  static Metrics metrics;
  static Ops ops(st, metrics, nullptr);
  return ops;
}

cas::Store& store() {
  static cas::Store& s = []() -> cas::Store& {
    // Not-UTF-8 strings in protos are refused as they should be; libprotobuf also logs each,
    // which only slows the fuzzer down.
    google::protobuf::SetLogHandler(nullptr);
    auto& st = fuzz::store();
    for (const std::string_view blob : {"hello\n", "world\n"}) {
      FUZZ_CHECK(st.put(as_bytes(blob)));
    }
    return st;
  }();
  return s;
}

void check_closure(cas::Store& st, const cas::Digest& root) {
  auto closure = tree_closure(st, root);
  if (!closure) {
    const auto code = closure.error().code;
    FUZZ_CHECK(code == Errc::not_found || code == Errc::invalid_argument ||
               code == Errc::too_large);
    return;
  }
  FUZZ_CHECK(!closure->directories.empty() && closure->directories[0] == root);
  FUZZ_CHECK(closure->directories.size() == closure->directory_bytes.size());
  std::set<std::string> seen;
  for (std::size_t i = 0; i < closure->directories.size(); ++i) {
    FUZZ_CHECK(seen.insert(closure->directories[i].hex()).second); // each directory once
    FUZZ_CHECK(cas::digest_of(closure->directory_bytes[i]) == closure->directories[i]);
  }
  for (const auto& f : closure->files) {
    FUZZ_CHECK(st.contains(f.hash)); // complete: every file is stored
  }
  Route route;
  route.kind = RouteKind::trees;
  route.digest = root;
  const auto tree = get_tree(ops_over(st), k_caller, route);
  FUZZ_CHECK(tree.status == 200);
  reapi::Tree message;
  FUZZ_CHECK(message.ParseFromString(tree.body));
  FUZZ_CHECK(static_cast<std::size_t>(message.children_size()) + 1 == closure->directories.size());
}

void check_action_result(cas::Store& st, const cas::Digest& value) {
  Route route;
  route.kind = RouteKind::ac;
  route.key = value.hex();
  route.hash = value.hash;
  FUZZ_CHECK(st.ns_put(cas::Namespace::ac, route.key, value));
  auto resolved = resolve_blob(st, route);
  if (resolved) {
    FUZZ_CHECK(*resolved == value.hash);
    return;
  }
  // Only an ActionResult with a missing blob is withheld; any other bytes are served.
  FUZZ_CHECK(resolved.error().code == Errc::not_found);
  reapi::ActionResult result;
  FUZZ_CHECK(result.ParseFromString(std::string(st.get(value.hash).value())));
}

void put_ref_body(cas::Store& st, std::string_view name_line, std::string_view body) {
  auto route = parse_route("/v1/refs/" + std::string(name_line));
  if (!route || route->kind != RouteKind::refs) {
    return;
  }
  const auto r = put_ref(ops_over(st), k_caller, *route, body);
  if (r.status != 200) {
    FUZZ_CHECK(r.status >= 400 && !r.body.empty() && r.body.find('\n') == r.body.size() - 1);
    return;
  }
  FUZZ_CHECK(!route->key.empty());
  // Named only once what it names is all stored: a GET of the ref is a hit.
  const auto got = get_ref(ops_over(st), k_caller, *route);
  FUZZ_CHECK(got.status == 200);
  const auto j = nlohmann::json::parse(got.body, nullptr, false);
  FUZZ_CHECK(!j.is_discarded() && j["name"] == route->key);
  auto digest = cas::parse_digest_text(j["digest"].get<std::string>());
  FUZZ_CHECK(digest);
  check_closure(st, *digest);
  FUZZ_CHECK(delete_ref(ops_over(st), k_caller, *route).status == 200);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& st = store();
  fuzz::Input in(data, size);
  const std::uint8_t mode = in.byte();
  if ((mode & 1) != 0) {
    const auto name = in.line();
    put_ref_body(st, name, in.rest());
    return 0;
  }
  const auto bytes = in.rest();
  auto stored = st.put(as_bytes(bytes));
  FUZZ_CHECK(stored);
  check_closure(st, *stored);
  check_action_result(st, *stored);
  // As a ref: named if and only if it is a complete tree, or a blob that is not a tree (a
  // file); never a tree with blobs missing.
  const auto tree = tree_closure(st, *stored);
  const bool nameable = tree || tree.error().code == Errc::invalid_argument;
  const auto body = nlohmann::json{{"digest", stored->to_string()}, {"pinned", (mode & 2) != 0}};
  auto route = parse_route("/v1/refs/fuzz/tree");
  FUZZ_CHECK(route);
  const auto r = put_ref(ops_over(st), k_caller, *route, body.dump());
  FUZZ_CHECK((r.status == 200) == nameable);
  return 0;
}
