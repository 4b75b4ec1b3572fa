// `ingot mirror snapshot NAME SNAPSHOT` freezes what the server's mirror NAME has fetched
// (ingot serve --mirror NAME=URL) as a tree under the ref mirror/NAME/SNAPSHOT, which
// /mirror/NAME@SNAPSHOT/ serves and `ingot pull-tree --ref` fetches.
#include "client/client.hpp"
#include "tools/client_flags.hpp"
#include "tools/commands.hpp"

#include <cstdio>
#include <optional>
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

struct OverrideArgs {
  ClientArgs client;
  std::string mirror;
  std::string path;
  std::string digest;
  bool remove = false;
};

int cmd_override(const OverrideArgs& a) {
  if (a.remove == !a.digest.empty()) {
    return fail(make_error(Errc::invalid_argument,
                           "give --digest HEX/SIZE to serve that blob, or --remove"));
  }
  std::optional<cas::Digest> digest;
  if (!a.remove) {
    auto parsed = cas::parse_digest_text(a.digest);
    if (!parsed) {
      return fail(make_error(Errc::invalid_argument,
                             "--digest wants <sha256 hex>/<size> (what ingot put prints), not '" +
                                 a.digest + "'"));
    }
    digest = *parsed;
  }
  auto c = make_client(a.client);
  if (!c) {
    return fail(c.error());
  }
  if (auto r = (*c)->override_mirror(a.mirror, a.path, digest); !r) {
    return fail(r.error());
  }
  if (!a.client.quiet) {
    if (digest) {
      std::printf("mirror %s serves %s as %s\n", a.mirror.c_str(), a.path.c_str(),
                  digest->to_string().c_str());
    } else {
      std::printf("mirror %s fetches %s from its upstream again\n", a.mirror.c_str(),
                  a.path.c_str());
    }
  }
  return k_exit_ok;
}

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
  static OverrideArgs over;
  auto* mirror =
      app.add_subcommand("mirror", "The server's upstream mirrors (ingot serve --mirror NAME=URL)");
  mirror->require_subcommand(1);
  // Each subcommand names its mirror first, and talks to a server.
  const auto add_mirror = [&](const char* name, const char* help, std::string& mirror_name,
                              ClientArgs& client) {
    auto* sub = mirror->add_subcommand(name, help);
    sub->add_option("name", mirror_name, "The mirror, as in --mirror NAME=URL")->required();
    add_client_flags(sub, client);
    return sub;
  };
  auto* cmd = add_mirror(
      "snapshot",
      "Freeze every file mirror NAME has fetched so far as the ref mirror/NAME/SNAPSHOT (write "
      "scope): GET /mirror/NAME@SNAPSHOT/PATH then serves exactly those files, never the "
      "upstream's; `ingot pull-tree --ref mirror/NAME/SNAPSHOT` fetches them all",
      snap.mirror, snap.client);
  cmd->add_option("snapshot", snap.snapshot, "A name for the snapshot (letters, digits, - _ .)")
      ->required();
  cmd->add_flag("--pin", snap.pin, "Keep every file of the snapshot whatever GC does");
  cmd->add_flag("--json", snap.client.json, "Print the result as JSON");
  cmd->callback([&run] {
    run = [] {
      return cmd_snapshot(snap);
    };
  });
  auto* ov = add_mirror(
      "override",
      "Serve a chosen blob for one path of mirror NAME, whatever its upstream has (admin scope; "
      "written to the audit log): the fix for a broken upstream file. --remove fetches it from "
      "the upstream again",
      over.mirror, over.client);
  ov->add_option("path", over.path, "The path below /mirror/NAME/")->required();
  ov->add_option("--digest", over.digest, "The blob to serve, <sha256 hex>/<size> (ingot put)");
  ov->add_flag("--remove", over.remove, "Remove the override");
  ov->callback([&run] {
    run = [] {
      return cmd_override(over);
    };
  });
}

} // namespace ingot::tools
