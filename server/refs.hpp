// Trees and refs: a tree is a REAPI v2 Directory Merkle tree in the CAS; a ref names the
// root of one, and a pinned ref keeps the tree's whole closure from eviction.
#pragma once

#include "cas/store.hpp"
#include "server/api.hpp"
#include "server/route.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ingot::server {

// Every digest of a tree: its Directory blobs and its files. Errc::not_found names the first
// blob that is missing (the tree is incomplete), Errc::invalid_argument a blob that is not a
// Directory.
struct TreeClosure {
  std::vector<cas::Digest> directories; // the root first, each once
  std::vector<std::string> directory_bytes;
  std::vector<cas::Digest> files;
};
// Which part of a tree a walk gives: all of it (a missing blob is Errc::not_found naming it), or
// the directories that are stored (REAPI GetTree: a missing subdirectory is left out with what
// is below it, files are not looked at; only a missing root is not_found).
enum class TreePart { whole, present };
[[nodiscard]] Result<TreeClosure> tree_closure(cas::Store& store, const cas::Digest& root,
                                               TreePart part = TreePart::whole);
// What a ref holds: the closure of a tree (a blob that is a well-formed REAPI Directory), or
// else the blob alone (a file). Errc::not_found names what is not stored.
[[nodiscard]] Result<TreeClosure> ref_closure(cas::Store& store, const cas::Digest& digest);

class Ops;
struct Caller;

// The HTTP adapters of the tree and ref operations (server/ops/refs.cpp): JSON in and out.
// GET /v1/trees/{hash}/{size}: the REAPI Tree message (root and every child Directory).
SimpleResponse get_tree(Ops& ops, const Caller& caller, const Route& route);

// /v1/refs/{name}: GET, PUT (JSON {"digest": "<hash>/<size>", "pinned": bool}), DELETE;
// GET /v1/refs?prefix=P lists.
SimpleResponse get_ref(Ops& ops, const Caller& caller, const Route& route);
SimpleResponse put_ref(Ops& ops, const Caller& caller, const Route& route, std::string_view body);
SimpleResponse delete_ref(Ops& ops, const Caller& caller, const Route& route);

// The pin set that a pinned ref holds, and back (fsck): the ref a pin set belongs to, or
// nullopt for another pin set.
std::string ref_pin_name(std::string_view ref);
std::optional<std::string> ref_of_pin_set(std::string_view pin_set);

} // namespace ingot::server
