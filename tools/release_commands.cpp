// keygen and release: signing keys for the server, and releases published, fetched and
// verified from the command line.
#include "client/release.hpp"
#include "sign/keys.hpp"
#include "tools/client_flags.hpp"
#include "tools/commands.hpp"
#include "tools/table.hpp"

#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace ingot::tools {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct KeygenArgs {
  std::string name;
  std::string out = ".";
};

struct ReleaseArgs {
  ClientArgs client;
  std::string project;
  std::string version;
  std::vector<std::string> files;
  std::string ref;
  std::string out;
  std::string dir;
  std::string trusted_key;
  std::string reason;
  bool allow_yanked = false;
};

int cmd_keygen(const KeygenArgs& a) {
  auto key = sign::generate_key(a.name);
  if (!key) {
    return fail(key.error());
  }
  std::error_code ec;
  fs::create_directories(a.out, ec);
  if (ec) {
    return fail(make_error(Errc::io, "cannot create " + a.out + ": " + ec.message()));
  }
  if (auto r = sign::write_key_files(*key, a.out); !r) {
    return fail(r.error());
  }
  const auto base = (fs::path(a.out) / a.name).string();
  std::printf("key ID %s\n", key->public_key().id_hex().c_str());
  std::printf("secret:   %s.key (mode 0600; give it to `ingot serve --signing-key`)\n",
              base.c_str());
  std::printf("public:   %s.pub (minisign -p, signify -p, ingot release --trusted-key)\n",
              base.c_str());
  std::printf("nix:      %s.nix.pub (%s)\n", base.c_str(), key->public_key().to_nix().c_str());
  return k_exit_ok;
}

// Prints a server answer that is JSON, pretty unless --json asks for one line.
int print_json(const std::string& text, bool one_line) {
  const json j = json::parse(text, nullptr, false);
  std::printf("%s\n", j.is_discarded() ? text.c_str() : j.dump(one_line ? -1 : 2).c_str());
  return k_exit_ok;
}

int cmd_publish(const ReleaseArgs& a) {
  if (a.files.empty() == a.ref.empty()) {
    return fail(make_error(Errc::invalid_argument, "give the files to publish, or --ref NAME"));
  }
  auto c = make_client(a.client);
  if (!c) {
    return fail(c.error());
  }
  std::vector<fs::path> files(a.files.begin(), a.files.end());
  auto record = a.ref.empty() ? client::publish_files(**c, a.project, a.version, files)
                              : client::publish_ref(**c, a.project, a.version, a.ref);
  if (!record) {
    return fail(record.error());
  }
  return print_json(*record, a.client.json);
}

Result<sign::PublicKey> trusted_key(const ReleaseArgs& a) {
  if (a.trusted_key.empty()) {
    return make_error(Errc::invalid_argument,
                      "--trusted-key KEY.pub is required: the public key you trust, obtained "
                      "out of band (GET /v1/keys only says what the server claims)");
  }
  return sign::load_public_key(a.trusted_key);
}

int report_verified(const client::VerifiedRelease& v, const std::string& where, bool as_json) {
  if (as_json) {
    std::printf("%s\n", json{{"verified", true},
                             {"dir", where},
                             {"files", v.files},
                             {"bytes", v.bytes},
                             {"trusted_comment", v.trusted_comment}}
                            .dump()
                            .c_str());
  } else {
    std::printf("verified %zu files in %s\ntrusted comment: %s\n", v.files, where.c_str(),
                v.trusted_comment.c_str());
  }
  return k_exit_ok;
}

int cmd_fetch(const ReleaseArgs& a) {
  auto key = trusted_key(a);
  if (!key) {
    return fail(key.error());
  }
  auto c = make_client(a.client);
  if (!c) {
    return fail(c.error());
  }
  const auto out = a.out.empty() ? a.project + "-" + a.version : a.out;
  auto verified =
      client::fetch_release(**c, a.project, a.version, out, *key,
                            a.allow_yanked ? client::Yanked::allow : client::Yanked::refuse);
  if (!verified) {
    return fail(verified.error());
  }
  if (verified->yank_reason) {
    std::fprintf(stderr, "ingot: warning: release %s %s is yanked (%s)\n", a.project.c_str(),
                 a.version.c_str(),
                 verified->yank_reason->empty() ? "no reason given"
                                                : ("reason: " + *verified->yank_reason).c_str());
  }
  return report_verified(*verified, out, a.client.json);
}

// A table of versions for people; --json prints the server's answer as it is.
int cmd_list(const ReleaseArgs& a) {
  auto c = make_client(a.client);
  auto text = c ? (*c)->list_releases(a.project) : Result<std::string>(c.error());
  if (!text) {
    return fail(text.error());
  }
  if (a.client.json) {
    return print_json(*text, true);
  }
  const json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("versions") || !j["versions"].is_array()) {
    return fail(make_error(Errc::corrupt, "releases of '" + a.project +
                                              "': the server's answer has no \"versions\" list"));
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : j["versions"]) {
    if (!v.is_object()) {
      continue;
    }
    const auto created = v.contains("created_unix") && v["created_unix"].is_number_integer()
                             ? v["created_unix"].get<std::int64_t>()
                             : 0;
    rows.push_back(
        {v.value("version", "?"), utc_time(created), v.value("yanked", false) ? "yes" : "no"});
  }
  print_table({"VERSION", "PUBLISHED", "YANKED"}, rows);
  return k_exit_ok;
}

int cmd_verify(const ReleaseArgs& a) {
  auto key = trusted_key(a);
  if (!key) {
    return fail(key.error());
  }
  auto verified = client::verify_release_dir(a.dir, *key);
  if (!verified) {
    return fail(verified.error());
  }
  return report_verified(*verified, a.dir, a.client.json);
}

} // namespace

void add_release_commands(CLI::App& app, std::function<int()>& run) {
  static KeygenArgs keygen;
  static ReleaseArgs publish;
  static ReleaseArgs fetch;
  static ReleaseArgs verify;
  static ReleaseArgs list;
  static ReleaseArgs yank;

  auto* keygen_cmd = app.add_subcommand(
      "keygen", "Make an Ed25519 release signing key: NAME.key (secret), NAME.pub (minisign and "
                "signify format), NAME.nix.pub");
  keygen_cmd->add_option("--name", keygen.name, "Key name, e.g. ingot-2026 ([A-Za-z0-9._-])")
      ->required();
  keygen_cmd->add_option("--out", keygen.out, "Directory for the key files (default .)");
  keygen_cmd->callback([&run] {
    run = [] {
      return cmd_keygen(keygen);
    };
  });

  auto* release = app.add_subcommand(
      "release", "Signed releases: publish, fetch, verify (offline), list, yank");
  release->require_subcommand(1);

  auto* publish_cmd = release->add_subcommand(
      "publish", "Publish files (uploading what the server lacks), or the files of the tree a "
                 "ref names, as an immutable signed release (needs the sign scope)");
  add_client_flags(publish_cmd, publish.client);
  publish_cmd->add_option("--project", publish.project, "Project name")->required();
  publish_cmd->add_option("--version", publish.version, "Version, e.g. 1.4.0")->required();
  publish_cmd->add_option("files", publish.files, "Artifacts, published under their base names");
  publish_cmd->add_option("--ref", publish.ref, "Publish the files of this ref's tree instead");
  publish_cmd->add_flag("--json", publish.client.json, "Print the record on one line");
  publish_cmd->callback([&run] {
    run = [] {
      return cmd_publish(publish);
    };
  });

  auto* fetch_cmd = release->add_subcommand(
      "fetch", "Download a release and verify it against a key you trust; fails on any "
               "mismatch or a signature by another key (exit 4), and on a yanked release "
               "(exit 3) unless --allow-yanked");
  add_client_flags(fetch_cmd, fetch.client);
  fetch_cmd->add_option("project", fetch.project, "Project")->required();
  fetch_cmd->add_option("version", fetch.version, "Version")->required();
  fetch_cmd->add_option("--out", fetch.out, "Directory to write (default PROJECT-VERSION)");
  fetch_cmd->add_option("--trusted-key", fetch.trusted_key, "The public key you trust (NAME.pub)")
      ->required();
  fetch_cmd->add_flag("--allow-yanked", fetch.allow_yanked,
                      "Fetch a yanked release anyway (a warning names the yank's reason)");
  fetch_cmd->add_flag("--json", fetch.client.json, "Print JSON on stdout");
  fetch_cmd->callback([&run] {
    run = [] {
      return cmd_fetch(fetch);
    };
  });

  auto* verify_cmd = release->add_subcommand(
      "verify", "Verify a downloaded release directory offline: signatures, then every file "
                "(exit 4 on any mismatch or a signature by another key)");
  verify_cmd->add_option("dir", verify.dir, "Directory with SHA256SUMS, its signatures and files")
      ->required();
  verify_cmd->add_option("--trusted-key", verify.trusted_key, "The public key you trust")
      ->required();
  verify_cmd->add_flag("--json", verify.client.json, "Print JSON on stdout");
  verify_cmd->callback([&run] {
    run = [] {
      return cmd_verify(verify);
    };
  });

  auto* list_cmd = release->add_subcommand(
      "list", "List a project's versions, as a table: version, when published, whether yanked");
  add_client_flags(list_cmd, list.client);
  list_cmd->add_option("project", list.project, "Project")->required();
  list_cmd->add_flag("--json", list.client.json, "Print the server's JSON on one line");
  list_cmd->callback([&run] {
    run = [] {
      return cmd_list(list);
    };
  });

  auto* yank_cmd = release->add_subcommand(
      "yank", "Mark a release yanked (admin): kept, still verifiable, listed as yanked");
  add_client_flags(yank_cmd, yank.client);
  yank_cmd->add_option("project", yank.project, "Project")->required();
  yank_cmd->add_option("version", yank.version, "Version")->required();
  yank_cmd->add_option("--reason", yank.reason, "Why, for the record and the audit log");
  yank_cmd->add_flag("--json", yank.client.json, "Print the record on one line");
  yank_cmd->callback([&run] {
    run = [] {
      auto c = make_client(yank.client);
      auto text = c ? (*c)->yank_release(yank.project, yank.version, yank.reason)
                    : Result<std::string>(c.error());
      return text ? print_json(*text, yank.client.json) : fail(text.error());
    };
  });
}

} // namespace ingot::tools
