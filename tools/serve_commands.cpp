// serve: run the HTTP server on a data dir, its settings from the command line, INGOT_<FLAG>
// variables or a TOML file (tools/serve_config.hpp).
#include "cas/store.hpp"
#include "server/auth.hpp"
#include "server/ops/mirror.hpp"
#include "server/server.hpp"
#include "tools/commands.hpp"
#include "tools/data_dir.hpp"
#include "tools/listen_address.hpp"
#include "tools/serve_config.hpp"
#include "tools/version.hpp"
#include "util/size.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace ingot::tools {

namespace {

struct ServeArgs {
  std::string config = k_default_config_file;
  bool dump_config = false;
  std::string data = k_default_data_dir;
  std::string listen = "127.0.0.1:8080";
  std::string max_size;
  double gc_high = 0.9;
  double gc_low = 0.8;
  std::string max_blob_size = "64GiB";
  std::string anonymous = "read";
  std::string log_format = "text";
  std::string compression = "auto";
  unsigned threads = 0;
  std::size_t max_connections = 1024;
  double read_timeout_s = 30;
  std::vector<std::string> signing_keys;
  unsigned nix_priority = 40;
  std::string tls_cert;
  std::string tls_key;
  std::string http_listen;
  std::string grpc_listen;
  std::string grpc_tls_cert;
  std::string grpc_tls_key;
  std::string grpc_client_ca;
  std::string grpc_client_cert_scopes = "read,write";
  std::vector<std::string> mirrors;
  std::vector<std::string> mirror_mutable;
  unsigned mirror_ttl_s = 300;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "ingot: %s\n", message.c_str());
  return k_exit_usage;
}

// `ingot keygen` writes NAME.key (secret, 0600) beside NAME.pub and NAME.nix.pub (public,
// 0644): a public one given here would be refused for its mode, and then called damaged.
Result<void> check_not_public_key(const std::string& file) {
  std::string first_line;
  if (std::ifstream in(file); in) {
    std::getline(in, first_line);
  }
  if (first_line.starts_with("ingot secret key ")) {
    return {};
  }
  std::string stem;
  for (const std::string_view suffix : {".nix.pub", ".pub"}) {
    if (std::string_view(file).ends_with(suffix)) {
      stem = file.substr(0, file.size() - suffix.size());
      break;
    }
  }
  if (stem.empty() && !first_line.starts_with("untrusted comment:")) {
    return {};
  }
  return make_error(Errc::invalid_argument,
                    "--signing-key " + file +
                        " is a public key (for clients to verify with); pass the secret key "
                        "file from ingot keygen instead: " +
                        (stem.empty() ? std::string("NAME.key") : stem + ".key"));
}

int cmd_serve(const ServeArgs& a) {
  server::ServerOptions options;
  const auto listen = parse_listen("--listen", a.listen);
  if (!listen) {
    return fail(listen.error());
  }
  options.host = listen->host;
  options.port = listen->port;
  if (!a.http_listen.empty()) {
    auto http = parse_listen("--http-listen", a.http_listen);
    if (!http) {
      return fail(http.error());
    }
    options.http_listen = *http;
  }
  if (!a.grpc_listen.empty()) {
    auto grpc = parse_listen("--grpc-listen", a.grpc_listen);
    if (!grpc) {
      return fail(grpc.error());
    }
    options.grpc_listen = *grpc;
  }
  options.grpc_tls_cert = a.grpc_tls_cert;
  options.grpc_tls_key = a.grpc_tls_key;
  options.grpc_client_ca = a.grpc_client_ca;
  const auto cert_scopes = server::parse_scopes(a.grpc_client_cert_scopes);
  if (!cert_scopes) {
    return usage_error("--grpc-client-cert-scopes: " + cert_scopes.error().message);
  }
  options.grpc_client_cert_scopes = *cert_scopes;
  options.version = std::string(version_line()).substr(std::strlen("ingot "));
  options.tls_cert = a.tls_cert;
  options.tls_key = a.tls_key;
  const auto max_blob = parse_size(a.max_blob_size);
  if (!max_blob) {
    return usage_error("--max-blob-size: '" + a.max_blob_size + "' is not a size like 4GiB");
  }
  options.max_blob_size = *max_blob;
  std::uint64_t max_size = 0;
  if (!a.max_size.empty()) {
    auto parsed = parse_size(a.max_size);
    if (!parsed) {
      return usage_error("--max-size: '" + a.max_size + "' is not a size like 20GiB");
    }
    max_size = *parsed;
  }
  if (!(0 < a.gc_low && a.gc_low <= a.gc_high && a.gc_high <= 1)) {
    return usage_error("--gc-low and --gc-high are fractions of --max-size with 0 < low <= high "
                       "<= 1, e.g. --gc-high 0.9 --gc-low 0.8");
  }
  if (a.anonymous == "none") {
    options.anonymous = 0;
  } else if (a.anonymous == "read") {
    options.anonymous = server::k_scope_read;
  } else if (a.anonymous == "write") {
    options.anonymous = server::k_scope_read | server::k_scope_write;
  } else {
    return usage_error("--anonymous must be none, read or write");
  }
  options.log_format = a.log_format == "json"  ? server::LogFormat::json
                       : a.log_format == "off" ? server::LogFormat::off
                                               : server::LogFormat::text;
  options.threads = a.threads;
  options.max_connections = a.max_connections;
  options.read_timeout = std::chrono::milliseconds(static_cast<long>(a.read_timeout_s * 1000));
  for (const auto& key : a.signing_keys) {
    if (auto r = check_not_public_key(key); !r) {
      return fail(r.error());
    }
  }
  options.signing_keys.assign(a.signing_keys.begin(), a.signing_keys.end());
  options.nix_priority = a.nix_priority;
  for (const auto& m : a.mirrors) {
    const auto eq = m.find('=');
    const auto name = m.substr(0, eq == std::string::npos ? 0 : eq);
    const bool plain =
        !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
        });
    if (eq == std::string::npos || !plain || eq + 1 == m.size()) {
      return usage_error("--mirror wants NAME=URL (NAME: letters, digits, '-', '_', '.'), e.g. "
                         "--mirror debian=https://deb.debian.org/debian, not '" +
                         m + "'");
    }
    server::MirrorSpec spec;
    spec.name = name;
    spec.url = m.substr(eq + 1);
    options.mirrors.push_back(std::move(spec));
  }
  for (const auto& m : a.mirror_mutable) {
    const auto eq = m.find('=');
    if (eq == std::string::npos || eq == 0) {
      return usage_error("--mirror-mutable wants NAME=GLOB[,GLOB...], e.g. "
                         "--mirror-mutable debian='Release,InRelease,Packages*', not '" +
                         m + "'");
    }
    const auto name = m.substr(0, eq);
    const auto mirror =
        std::find_if(options.mirrors.begin(), options.mirrors.end(),
                     [&](const server::MirrorSpec& spec) { return spec.name == name; });
    if (mirror == options.mirrors.end()) {
      return usage_error("--mirror-mutable " + m + ": no mirror named '" + name +
                         "'; add --mirror " + name + "=URL");
    }
    auto globs = server::parse_mutable_globs(std::string_view(m).substr(eq + 1));
    if (!globs) {
      return usage_error("--mirror-mutable " + m + ": " + globs.error().message);
    }
    mirror->mutable_globs.insert(mirror->mutable_globs.end(), globs->begin(), globs->end());
  }
  options.mirror_ttl = std::chrono::seconds(a.mirror_ttl_s);

  cas::StoreOptions store_options;
  store_options.dir = a.data;
  store_options.max_size = max_size;
  store_options.gc_high = a.gc_high;
  store_options.gc_low = a.gc_low;
  store_options.compression =
      a.compression == "off" ? cas::Compression::off : cas::Compression::automatic;
  auto store = cas::Store::open(store_options);
  if (!store) {
    return fail(store.error());
  }
  auto server = server::Server::create(options, **store, a.data);
  if (!server) {
    return fail(server.error());
  }
  const auto usage = (*store)->usage();
  const auto space = (*store)->space();
  const bool tls = !options.tls_cert.empty();
  const std::string plain_too = options.http_listen
                                    ? " and http://" + options.http_listen->host + ":" +
                                          std::to_string((*server)->http_port()) + "/"
                                    : "";
  std::fprintf(stderr, "ingot: serving %s (%llu blobs, %s on disk, %s) on %s://%s:%u/%s\n",
               a.data.c_str(), static_cast<unsigned long long>(usage.blobs),
               format_size(space.used).c_str(),
               max_size > 0 ? ("bounded to " + format_size(max_size)).c_str() : "no size bound",
               tls ? "https" : "http", options.host.c_str(),
               static_cast<unsigned>((*server)->port()), plain_too.c_str());
  const auto& plain = tls ? options.http_listen : std::optional(*listen);
  if (plain && !is_loopback(plain->host)) {
    std::fprintf(stderr,
                 "ingot: warning: plain HTTP on %s: tokens and data cross the network in clear; "
                 "serve HTTPS with --tls-cert and --tls-key\n",
                 plain->host.c_str());
  }
  if (options.grpc_listen) {
    const bool grpc_tls = !options.grpc_tls_cert.empty();
    std::fprintf(
        stderr,
        "ingot: gRPC (REAPI cache, ByteStream, Remote Asset, ReferenceStorage) on %s://%s:%u%s\n",
        grpc_tls ? "grpcs" : "grpc", options.grpc_listen->host.c_str(),
        static_cast<unsigned>((*server)->grpc_port()),
        options.grpc_client_ca.empty() ? "" : ", verifying client certificates");
    if (!grpc_tls && !is_loopback(options.grpc_listen->host)) {
      std::fprintf(stderr,
                   "ingot: warning: gRPC on %s is plain HTTP/2: tokens and data cross the "
                   "network in clear\n",
                   options.grpc_listen->host.c_str());
    }
  }
  std::fflush(stderr);
  (*server)->run();
  std::fprintf(stderr, "ingot: stopped\n");
  return k_exit_ok;
}

} // namespace

void add_serve_commands(CLI::App& app, std::function<int()>& run) {
  static ServeArgs serve_args;

  auto* serve = app.add_subcommand("serve", "Run the HTTP cache server on a data dir");
  serve->add_option("--data", serve_args.data, "Data directory")->capture_default_str();
  serve->add_option("--listen", serve_args.listen, "HOST:PORT to listen on (port 0: any free)")
      ->capture_default_str();
  serve->add_option("--max-size", serve_args.max_size,
                    "Bound on the data dir's size on disk (index included), e.g. 20GiB; least "
                    "recently used blobs are evicted to stay under it (default: no bound)");
  serve
      ->add_option("--gc-high", serve_args.gc_high,
                   "Fraction of --max-size at which background GC starts")
      ->capture_default_str();
  serve
      ->add_option("--gc-low", serve_args.gc_low,
                   "Fraction of --max-size that background GC evicts down to")
      ->capture_default_str();
  serve
      ->add_option("--max-blob-size", serve_args.max_blob_size,
                   "Largest request body accepted; larger gets 413")
      ->capture_default_str();
  serve->add_option("--anonymous", serve_args.anonymous, "What needs no token: none, read or write")
      ->capture_default_str();
  serve->add_option("--threads", serve_args.threads, "I/O threads (0: one per core)")
      ->capture_default_str();
  serve
      ->add_option("--max-connections", serve_args.max_connections,
                   "Connections served at once; more get 503")
      ->capture_default_str();
  serve
      ->add_option("--read-timeout", serve_args.read_timeout_s,
                   "Seconds a request header, or each piece of a body, may take to arrive; "
                   "a client that reads nothing of a response for as long is dropped")
      ->capture_default_str();
  serve->add_option("--signing-key", serve_args.signing_keys,
                    "Signing key from `ingot keygen` (mode 0600), for releases and Nix narinfos; "
                    "repeat to keep older keys: the first signs releases, the others stay listed "
                    "as retired; narinfos are signed by every one, so that Nix clients still "
                    "trusting an old key keep substituting during a rotation");
  serve->add_option("--tls-cert", serve_args.tls_cert,
                    "PEM certificate chain: with --tls-key, --listen serves HTTPS (both files "
                    "are read again on SIGHUP)");
  serve->add_option("--tls-key", serve_args.tls_key, "PEM private key of --tls-cert");
  serve->add_option("--http-listen", serve_args.http_listen,
                    "HOST:PORT for plain HTTP beside HTTPS (e.g. 127.0.0.1:8080 for local "
                    "tools); only with --tls-cert");
  serve->add_option("--grpc-listen", serve_args.grpc_listen,
                    "HOST:PORT for gRPC: REAPI's Capabilities, ContentAddressableStorage and "
                    "ActionCache, and ByteStream, for Bazel (--remote_cache=grpc://HOST:PORT), "
                    "BuildStream and recc; same store, tokens and scopes as HTTP (off by default)");
  serve->add_option("--grpc-tls-cert", serve_args.grpc_tls_cert,
                    "PEM certificate chain: with --grpc-tls-key, --grpc-listen serves gRPC over "
                    "TLS (grpcs://); checked at start, then re-read every 30 s (a renewal needs no "
                    "restart)");
  serve->add_option("--grpc-tls-key", serve_args.grpc_tls_key,
                    "PEM private key of --grpc-tls-cert");
  serve->add_option("--grpc-client-ca", serve_args.grpc_client_ca,
                    "PEM CA certificates: gRPC clients presenting a certificate they signed get "
                    "--grpc-client-cert-scopes (mutual TLS: BuildStream 1.6 can send no token); "
                    "needs --grpc-tls-cert");
  serve
      ->add_option("--grpc-client-cert-scopes", serve_args.grpc_client_cert_scopes,
                   "Scopes a verified gRPC client certificate grants, e.g. read or read,write")
      ->capture_default_str();
  serve
      ->add_option("--nix-priority", serve_args.nix_priority,
                   "Priority in /nix/nix-cache-info: Nix tries substituters with lower "
                   "numbers first (cache.nixos.org is 40)")
      ->capture_default_str();
  serve->add_option("--mirror", serve_args.mirrors,
                    "NAME=URL: serve the upstream URL at /mirror/NAME/ (repeatable): each file "
                    "is fetched once, then served from the store, and still when the upstream "
                    "fails; e.g. debian=https://deb.debian.org/debian");
  serve->add_option(
      "--mirror-mutable", serve_args.mirror_mutable,
      "NAME=GLOB[,GLOB...]: the paths of mirror NAME that change in place and are checked with "
      "the upstream after --mirror-ttl, instead of the built-in list (repeatable; it replaces "
      "the list, so name every index the mirror has). `*` is any run of characters, `?` one; "
      "a glob without '/' matches the file name, one with '/' the whole path; e.g. "
      "tools='*.json,latest/*'");
  serve
      ->add_option("--mirror-ttl", serve_args.mirror_ttl_s,
                   "Seconds a mirrored repository index (Release, Packages*, *.db, *.json, ..., "
                   "or what --mirror-mutable names) is served before it is checked with its "
                   "upstream again; other files never change")
      ->capture_default_str();
  serve
      ->add_option("--compression", serve_args.compression,
                   "At-rest zstd for new blobs: auto (kept only where it saves 1/8 or more) or "
                   "off; blobs already stored are read either way")
      ->check(CLI::IsMember({"auto", "off"}))
      ->capture_default_str();
  serve->add_option("--log-format", serve_args.log_format, "Access log on stderr: text, json, off")
      ->capture_default_str();
  add_setting_env_names(*serve);
  auto* config =
      serve
          ->add_option("--config", serve_args.config,
                       "TOML file of settings, one key per flag (`max-size = \"20GiB\"`, "
                       "`signing-key = [\"a.key\", \"b.key\"]`); read only if it exists unless "
                       "given. Each flag may also come from INGOT_<FLAG> (INGOT_MAX_SIZE, ...); "
                       "command line > environment > file > default")
          ->envname("INGOT_CONFIG")
          ->capture_default_str();
  serve->add_flag("--dump-config", serve_args.dump_config,
                  "Print the effective settings as TOML (what --config reads) and exit");
  serve->callback([&run, serve, config] {
    run = [serve, config] {
      if (auto r = apply_config_file(*serve, serve_args.config, config->count() > 0); !r) {
        return fail(r.error());
      }
      if (serve_args.dump_config) {
        std::printf("%s", dump_settings(*serve).c_str());
        return k_exit_ok;
      }
      return cmd_serve(serve_args);
    };
  });

  add_init_command(app, run);
  add_token_commands(app, run);
}

} // namespace ingot::tools
