// `ingot ref get|set|list|rm`: names for trees and blobs. `ref get` prints what `ref set`
// takes, so that `ingot ref set B $(ingot ref get A)` copies a ref.
#include "client/client.hpp"
#include "tools/client_flags.hpp"
#include "tools/commands.hpp"
#include "tools/table.hpp"

#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace ingot::tools {

namespace {

using nlohmann::json;

struct RefArgs {
  ClientArgs client;
  std::string name;
  std::string digest;
  std::string prefix;
  bool pin = false;
};

json ref_json(const client::RefInfo& r) {
  return {{"name", r.name},
          {"digest", r.digest.to_string()},
          {"pinned", r.pinned},
          {"updated_unix_ms", r.updated_unix_ms}};
}

int print_json(const json& j) {
  std::printf("%s\n", j.dump().c_str());
  return k_exit_ok;
}

int cmd_ref_list(client::Client& c, const RefArgs& a) {
  auto listing = c.list_refs(a.prefix);
  if (!listing) {
    return fail(listing.error());
  }
  if (a.client.json) {
    json refs = json::array();
    for (const auto& r : listing->refs) {
      refs.push_back(ref_json(r));
    }
    return print_json({{"refs", refs}, {"truncated", listing->truncated}});
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : listing->refs) {
    rows.push_back({r.name, r.digest.to_string(), r.pinned ? "yes" : "no",
                    utc_time(r.updated_unix_ms / 1000)});
  }
  print_table({"NAME", "DIGEST", "PINNED", "UPDATED"}, rows);
  if (listing->truncated) {
    std::fprintf(stderr, "ingot: listing truncated; give a longer prefix to see the rest\n");
  }
  return k_exit_ok;
}

int cmd_ref(const RefArgs& a, const std::string& action) {
  auto c = make_client(a.client);
  if (!c) {
    return fail(c.error());
  }
  if (action == "list") {
    return cmd_ref_list(**c, a);
  }
  if (action == "rm") {
    auto r = (*c)->delete_ref(a.name);
    return r ? k_exit_ok : fail(r.error());
  }
  if (action == "get") {
    auto ref = (*c)->get_ref(a.name);
    if (!ref) {
      return fail(ref.error());
    }
    if (a.client.json) {
      return print_json(ref_json(*ref));
    }
    std::printf("%s\n", ref->digest.to_string().c_str());
    return k_exit_ok;
  }
  auto digest = cas::parse_digest_text(a.digest);
  if (!digest) {
    return fail(digest.error());
  }
  auto ref = (*c)->put_ref(a.name, *digest, a.pin ? client::Pinned::yes : client::Pinned::no);
  if (!ref) {
    return fail(ref.error());
  }
  if (a.client.json) {
    return print_json(ref_json(*ref));
  }
  std::fprintf(stderr, "ref %s -> %s%s\n", ref->name.c_str(), ref->digest.to_string().c_str(),
               ref->pinned ? " (pinned)" : "");
  return k_exit_ok;
}

} // namespace

void add_ref_commands(CLI::App& app, std::function<int()>& run) {
  static RefArgs ref; // CLI11 options hold references to it, so it outlives parsing

  auto* ref_cmd = app.add_subcommand("ref", "Names for trees and blobs: get, set, list, rm");
  ref_cmd->require_subcommand(1);
  auto* get = ref_cmd->add_subcommand(
      "get", "Print the digest a ref names, <sha256>/<size> as `ref set` takes it (exit 3 when "
             "unknown or when what it names is no longer complete)");
  auto* set = ref_cmd->add_subcommand(
      "set", "Point a ref at a stored blob or a tree (the whole tree must be stored)");
  auto* list = ref_cmd->add_subcommand("list", "List refs, by prefix (at most 1000), as a table");
  auto* rm = ref_cmd->add_subcommand("rm", "Remove a ref and its pin");
  for (auto* sub : {get, set, list, rm}) {
    add_client_flags(sub, ref.client);
    if (sub != list) {
      sub->add_option("name", ref.name, "Ref name, e.g. main/linux-x86_64")->required();
    }
    if (sub != rm) {
      sub->add_flag("--json", ref.client.json,
                    "Print JSON on stdout: the whole record (name, digest, pinned, updated)");
    }
    const std::string action = sub->get_name();
    sub->callback([&run, action] {
      run = [action] {
        return cmd_ref(ref, action);
      };
    });
  }
  set->add_option("digest", ref.digest, "<sha256>/<size> of a blob or of a tree's root")
      ->required();
  set->add_flag("--pin", ref.pin, "Pin what it names (a tree with all its blobs) against GC");
  list->add_option("prefix", ref.prefix, "Only names starting with this");
}

} // namespace ingot::tools
