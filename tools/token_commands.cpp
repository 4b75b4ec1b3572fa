// token create|list|revoke: a data dir's access tokens, managed while the server runs (it
// reloads the tokens file when it changes).
#include "server/auth.hpp"
#include "tools/commands.hpp"
#include "tools/data_dir.hpp"

#include <cstdio>
#include <ctime>
#include <string>

#include <CLI/CLI.hpp>

namespace ingot::tools {

namespace {

struct TokenArgs {
  std::string data = k_default_data_dir;
  std::string scopes = "read";
  std::string name;
  std::string which;
};

std::string iso_time(std::int64_t unix_s) {
  const std::time_t t = unix_s;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int cmd_token_create(const TokenArgs& a) {
  if (auto dir = require_data_dir(a.data); !dir) {
    return fail(dir.error());
  }
  auto scopes = server::parse_scopes(a.scopes);
  if (!scopes) {
    return fail(scopes.error());
  }
  const std::string name = a.name.empty() ? "token-" + iso_time(std::time(nullptr)) : a.name;
  auto created = server::TokenFile(a.data).create(name, *scopes);
  if (!created) {
    return fail(created.error());
  }
  std::printf("%s\n", created->first.c_str());
  std::fprintf(stderr, "ingot: created token %s (id %s, scopes %s); it is shown only once\n",
               created->second.name.c_str(), created->second.id.c_str(),
               server::scopes_to_string(*scopes).c_str());
  return k_exit_ok;
}

int cmd_token_list(const TokenArgs& a) {
  if (auto dir = require_data_dir(a.data); !dir) {
    return fail(dir.error());
  }
  auto tokens = server::TokenFile(a.data).list();
  if (!tokens) {
    return fail(tokens.error());
  }
  std::printf("%-12s  %-20s  %-22s  %s\n", "ID", "CREATED", "SCOPES", "NAME");
  for (const auto& t : *tokens) {
    std::printf("%-12s  %-20s  %-22s  %s\n", t.id.c_str(), iso_time(t.created_unix_s).c_str(),
                server::scopes_to_string(t.scopes).c_str(), t.name.c_str());
  }
  return k_exit_ok;
}

int cmd_token_revoke(const TokenArgs& a) {
  if (auto dir = require_data_dir(a.data); !dir) {
    return fail(dir.error());
  }
  auto revoked = server::TokenFile(a.data).revoke(a.which);
  if (!revoked) {
    return fail(revoked.error());
  }
  std::fprintf(stderr, "ingot: revoked token %s (%s)\n", revoked->id.c_str(),
               revoked->name.c_str());
  return k_exit_ok;
}

} // namespace

void add_token_commands(CLI::App& app, std::function<int()>& run) {
  static TokenArgs token_args;

  auto* token = app.add_subcommand("token", "Manage access tokens (works while serving)");
  token->require_subcommand(1);
  auto* create = token->add_subcommand("create", "Create a token and print it (shown once)");
  add_data_option(create, token_args.data, "The server's data directory");
  create->add_option("--scope", token_args.scopes, "Comma-separated: read, write, sign, admin")
      ->capture_default_str();
  create->add_option("--name", token_args.name, "A name to recognise it by (default: the time)");
  create->callback([&run] {
    run = [] {
      return cmd_token_create(token_args);
    };
  });
  auto* list = token->add_subcommand("list", "List tokens (ids, names, scopes; never secrets)");
  add_data_option(list, token_args.data, "The server's data directory");
  list->callback([&run] {
    run = [] {
      return cmd_token_list(token_args);
    };
  });
  auto* revoke = token->add_subcommand("revoke", "Revoke a token by id or name");
  add_data_option(revoke, token_args.data, "The server's data directory");
  revoke->add_option("token", token_args.which, "Token id or name")->required();
  revoke->callback([&run] {
    run = [] {
      return cmd_token_revoke(token_args);
    };
  });
}

} // namespace ingot::tools
