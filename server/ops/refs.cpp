// Trees and refs: a tree is a REAPI v2 Directory Merkle tree in the CAS; a ref names the root
// of one, or any other stored blob, and a pinned ref keeps the whole closure from eviction.
#include "server/refs.hpp"

#include "reapi.pb.h"
#include "server/ops/ops.hpp"

namespace ingot::server {

namespace {

namespace reapi = build::bazel::remote::execution::v2;

// A listing answers at most this many refs; narrow the prefix for more.
constexpr std::size_t k_max_listed_refs = 1000;

Result<RefView> view_of(cas::Store& store, std::string_view name, const cas::Entry& entry) {
  auto pinned = store.is_pinned(ref_pin_name(name));
  if (!pinned) {
    return std::move(pinned).error();
  }
  return RefView{std::string(name), entry.value, *pinned, entry.updated_unix_ms};
}

Error needs_name(std::string_view method) {
  return make_error(Errc::invalid_argument,
                    std::string(method) + " needs a ref name: /v1/refs/{name}");
}

} // namespace

Result<std::vector<std::string>> Ops::tree_directories(const Caller& caller,
                                                       const cas::Digest& root) {
  INGOT_TRY(enter(caller, Op::get_tree));
  auto closure = tree_closure(m_store, root, TreePart::present);
  if (!closure) {
    return std::move(closure).error();
  }
  return std::move(closure->directory_bytes);
}

Result<std::string> Ops::get_tree(const Caller& caller, const cas::Digest& root) {
  INGOT_TRY(enter(caller, Op::get_tree));
  auto closure = tree_closure(m_store, root);
  if (!closure) {
    return std::move(closure).error();
  }
  reapi::Tree tree;
  for (std::size_t i = 0; i < closure->directory_bytes.size(); ++i) {
    auto* dir = i == 0 ? tree.mutable_root() : tree.add_children();
    dir->ParseFromString(closure->directory_bytes[i]);
  }
  return tree.SerializeAsString();
}

Result<RefView> Ops::get_ref(const Caller& caller, std::string_view name) {
  INGOT_TRY(enter(caller, Op::read_ref));
  if (name.empty()) {
    return needs_name("GET");
  }
  auto entry = m_store.ns_get(cas::Namespace::ref, name);
  if (!entry) {
    return std::move(entry).error();
  }
  // ARCHITECTURE.md "Completeness": a ref whose tree or blob lost a blob is not a hit.
  if (auto closure = ref_closure(m_store, entry->value); !closure) {
    return make_error(closure.error().code,
                      "ref '" + std::string(name) + "': " + closure.error().message);
  }
  return view_of(m_store, name, *entry);
}

Result<RefList> Ops::list_refs(const Caller& caller, std::string_view prefix) {
  INGOT_TRY(enter(caller, Op::read_ref));
  auto entries = m_store.ns_list(cas::Namespace::ref, prefix, k_max_listed_refs + 1);
  if (!entries) {
    return std::move(entries).error();
  }
  RefList list;
  // One more than is listed is asked for, to tell a full page from a cut one.
  list.truncated = entries->size() > k_max_listed_refs;
  if (list.truncated) {
    entries->pop_back();
  }
  for (const auto& [name, entry] : *entries) {
    auto view = view_of(m_store, name, entry);
    if (!view) {
      return std::move(view).error();
    }
    list.refs.push_back(std::move(*view));
  }
  return list;
}

namespace {

// Refs under mirror/ are the mirror's snapshots (`ingot mirror snapshot`): CI pins one and
// trusts it, so no ref writer may replace or remove one.
Result<void> not_a_snapshot(std::string_view name) {
  if (name.starts_with("mirror/")) {
    return make_error(Errc::forbidden,
                      "refs under mirror/ are mirror snapshots: made by `ingot mirror snapshot`, "
                      "never replaced; choose another name");
  }
  return {};
}

} // namespace

Result<RefView> Ops::put_ref(const Caller& caller, std::string_view name, const cas::Digest& digest,
                             PinRef pin) {
  INGOT_TRY(enter(caller, Op::write_ref));
  if (name.empty()) {
    return needs_name("PUT");
  }
  INGOT_TRY(not_a_snapshot(name));
  return write_ref(name, digest, pin);
}

Result<RefView> Ops::write_ref(std::string_view name, const cas::Digest& digest, PinRef pin) {
  auto closure = ref_closure(m_store, digest);
  if (!closure) {
    // Naming a tree or blob that is not all there is the caller's mistake, not a miss.
    return make_error(closure.error().code == Errc::not_found ? Errc::invalid_argument
                                                              : closure.error().code,
                      closure.error().message + "; upload it before naming it");
  }
  const auto pin_name = ref_pin_name(name);
  if (pin == PinRef::yes) {
    std::vector<cas::Hash> blobs;
    for (const auto& d : closure->directories) {
      blobs.push_back(d.hash);
    }
    for (const auto& d : closure->files) {
      blobs.push_back(d.hash);
    }
    INGOT_TRY(m_store.pin(pin_name, std::move(blobs)));
  }
  INGOT_TRY(m_store.ns_put(cas::Namespace::ref, name, digest));
  if (pin == PinRef::no) {
    INGOT_TRY(m_store.unpin(pin_name));
  }
  auto entry = m_store.ns_get(cas::Namespace::ref, name);
  if (!entry) {
    return std::move(entry).error();
  }
  return view_of(m_store, name, *entry);
}

Result<void> Ops::delete_ref(const Caller& caller, std::string_view name) {
  INGOT_TRY(enter(caller, Op::write_ref));
  if (name.empty()) {
    return needs_name("DELETE");
  }
  // A snapshot is removed by an admin alone (snapshots pin what they hold: they must go
  // some day), never replaced.
  if (name.starts_with("mirror/") && !grants(caller.scopes, k_scope_admin)) {
    return make_error(Errc::forbidden,
                      "removing a mirror snapshot needs the 'admin' scope (refs under mirror/)");
  }
  INGOT_TRY(m_store.ns_remove(cas::Namespace::ref, name));
  return m_store.unpin(ref_pin_name(name));
}

} // namespace ingot::server
