// `ingot nix pin|unpin`: keep a store path's closure in the server's Nix cache whatever GC does.
#include "server/nix_cache.hpp"
#include "tools/client_flags.hpp"
#include "tools/commands.hpp"

#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace ingot::tools {

namespace {

struct NixArgs {
  ClientArgs client;
  std::vector<std::string> paths;
};

// "/nix/store/<hash32>-name", "<hash32>-name" or "<hash32>" → "<hash32>".
Result<std::string> hash32_of(std::string_view path) {
  std::string_view base = path;
  if (const auto slash = base.rfind('/'); slash != std::string_view::npos) {
    base.remove_prefix(slash + 1);
  }
  const auto hash32 = base.substr(0, 32);
  if (!server::is_nix_hash32(hash32) || (base.size() > 32 && base[32] != '-')) {
    return make_error(Errc::invalid_argument,
                      "'" + std::string(path) +
                          "' is not a store path: give /nix/store/<hash>-name");
  }
  return std::string(hash32);
}

int cmd_nix(const NixArgs& a, bool pin) {
  auto c = make_client(a.client);
  if (!c) {
    return fail(c.error());
  }
  for (const auto& path : a.paths) {
    auto hash32 = hash32_of(path);
    if (!hash32) {
      return fail(hash32.error());
    }
    if (pin) {
      auto blobs = (*c)->pin_nix(*hash32);
      if (!blobs) {
        return fail(blobs.error());
      }
      if (a.client.json) {
        std::printf("{\"path\":\"%s\",\"pinned_blobs\":%llu}\n", path.c_str(),
                    static_cast<unsigned long long>(*blobs));
      } else if (!a.client.quiet) {
        std::printf("pinned %s: its closure, %llu blobs\n", path.c_str(),
                    static_cast<unsigned long long>(*blobs));
      }
    } else {
      if (auto r = (*c)->unpin_nix(*hash32); !r) {
        return fail(r.error());
      }
      if (!a.client.quiet && !a.client.json) {
        std::printf("unpinned %s\n", path.c_str());
      }
    }
  }
  return k_exit_ok;
}

} // namespace

void add_nix_commands(CLI::App& app, std::function<int()>& run) {
  static NixArgs pin;
  static NixArgs unpin;
  auto* nix = app.add_subcommand("nix", "The server's Nix binary cache (http://HOST:PORT/nix)");
  nix->require_subcommand(1);
  auto* pin_cmd = nix->add_subcommand(
      "pin", "Keep store paths and their whole closures in the cache whatever GC does (write "
             "scope); pinning a path again re-reads its closure");
  pin_cmd->add_option("paths", pin.paths, "Store paths, /nix/store/<hash>-name")->required();
  add_client_flags(pin_cmd, pin.client);
  pin_cmd->add_flag("--json", pin.client.json, "Print JSON lines on stdout");
  pin_cmd->callback([&run] {
    run = [] {
      return cmd_nix(pin, true);
    };
  });
  auto* unpin_cmd = nix->add_subcommand("unpin", "Let GC evict store paths pinned before");
  unpin_cmd->add_option("paths", unpin.paths, "Store paths, /nix/store/<hash>-name")->required();
  add_client_flags(unpin_cmd, unpin.client);
  unpin_cmd->callback([&run] {
    run = [] {
      return cmd_nix(unpin, false);
    };
  });
}

} // namespace ingot::tools
