// `ingot mirror snapshot NAME SNAPSHOT`: freezes what the server's mirror NAME has fetched
// (ingot serve --mirror NAME=URL) as a tree under the ref mirror/NAME/SNAPSHOT, which
// /mirror/NAME@SNAPSHOT/ serves and `ingot pull-tree --ref` fetches.
#include "client/client.hpp"
#include "tools/client_flags.hpp"
#include "tools/commands.hpp"

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace ingot::tools {

namespace {

struct SnapshotArgs {
  ClientArgs client;
  std::string mirror;
  std::string snapshot;
  bool pin = false;
};

int cmd_snapshot(const SnapshotArgs& a) {
  auto c = make_client(a.client);
  if (!c) {
    return fail(c.error());
  }
  auto made = (*c)->snapshot_mirror(a.mirror, a.snapshot, a.pin);
  if (!made) {
    return fail(made.error());
  }
  if (a.client.json) {
    std::printf("%s\n", nlohmann::json{{"ref", made->ref},
                                       {"root", made->root.to_string()},
                                       {"files", made->files},
                                       {"skipped", made->skipped},
                                       {"pinned", made->pinned}}
                            .dump()
                            .c_str());
  } else if (!a.client.quiet) {
    std::printf("%s: %llu files, tree %s%s\n", made->ref.c_str(),
                static_cast<unsigned long long>(made->files), made->root.to_string().c_str(),
                made->pinned ? ", pinned" : "");
    if (made->skipped != 0) {
      std::fprintf(stderr,
                   "ingot: %llu files left out: each has the name of a directory fetched too\n",
                   static_cast<unsigned long long>(made->skipped));
    }
  }
  return k_exit_ok;
}

} // namespace

void add_mirror_commands(CLI::App& app, std::function<int()>& run) {
  static SnapshotArgs snap;
  auto* mirror =
      app.add_subcommand("mirror", "The server's upstream mirrors (ingot serve --mirror NAME=URL)");
  mirror->require_subcommand(1);
  auto* cmd = mirror->add_subcommand(
      "snapshot",
      "Freeze every file mirror NAME has fetched so far as the ref mirror/NAME/SNAPSHOT (write "
      "scope): GET /mirror/NAME@SNAPSHOT/PATH then serves exactly those files, never the "
      "upstream's; `ingot pull-tree --ref mirror/NAME/SNAPSHOT` fetches them all");
  cmd->add_option("name", snap.mirror, "The mirror, as in --mirror NAME=URL")->required();
  cmd->add_option("snapshot", snap.snapshot, "A name for the snapshot (letters, digits, - _ .)")
      ->required();
  cmd->add_flag("--pin", snap.pin, "Keep every file of the snapshot whatever GC does");
  add_client_flags(cmd, snap.client);
  cmd->add_flag("--json", snap.client.json, "Print the result as JSON");
  cmd->callback([&run] {
    run = [] {
      return cmd_snapshot(snap);
    };
  });
}

} // namespace ingot::tools
