// The client's commands: put, get, push-tree and pull-tree, against a running server
// (put and get also work on a local data dir with --data).
#include "client/client.hpp"
#include "client/parallel.hpp"
#include "client/transfer.hpp"
#include "tools/client_flags.hpp"
#include "tools/commands.hpp"
#include "tools/progress_bar.hpp"
#include "util/file_io.hpp"
#include "util/size.hpp"

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <optional>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace ingot::tools {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// "<64 hex>" or "<64 hex>/<size>"; a bare hash leaves the size 0 (unknown).
Result<cas::Digest> parse_digest_arg(const std::string& text) {
  if (text.find('/') != std::string::npos) {
    return cas::parse_digest_text(text);
  }
  return cas::parse_digest(text, 0);
}

json summary_json(const client::TransferSummary& s, const char* moved,
                  const client::TransferCounters& c) {
  return {{"root", s.root.to_string()},
          {"files", s.files},
          {"bytes", s.bytes},
          {"directories", s.directories},
          {"symlinks", s.symlinks},
          {std::string(moved) + "_files", s.transferred_files},
          {std::string(moved) + "_bytes", s.transferred_bytes},
          {"present_files", s.present_files},
          {"present_bytes", s.present_bytes},
          {"requests", c.requests},
          {"retries", c.retries},
          {"duration_s", static_cast<double>(s.duration.count()) / 1000.0}};
}

void print_summary(const client::TransferSummary& s, const char* verb, const char* moved,
                   const char* present_where) {
  std::fprintf(stderr, "%s %zu files (%s): %s %zu (%s), %zu already %s, in %.2f s\n", verb, s.files,
               format_size(s.bytes).c_str(), moved, s.transferred_files,
               format_size(s.transferred_bytes).c_str(), s.present_files, present_where,
               static_cast<double>(s.duration.count()) / 1000.0);
}

std::unique_ptr<ProgressBar> progress_for(const ClientArgs& a, const char* verb) {
  if (a.quiet || !ProgressBar::wanted()) {
    return nullptr;
  }
  return std::make_unique<ProgressBar>(verb);
}

// --- push-tree / pull-tree ------------------------------------------------------------------

struct TreeArgs {
  ClientArgs client;
  std::vector<std::string> positional;
  std::string ref;
  bool pin = false;
  bool allow_escaping_symlinks = false;
};

int cmd_push_tree(const TreeArgs& a) {
  if (a.pin && a.ref.empty()) {
    return fail(make_error(Errc::invalid_argument, "--pin pins a ref: give --ref NAME too"));
  }
  auto c = make_client(a.client);
  if (!c) {
    return fail(c.error());
  }
  auto bar = progress_for(a.client, "push");
  client::PushOptions options;
  options.symlinks = a.allow_escaping_symlinks ? client::EscapingSymlinks::allow
                                               : client::EscapingSymlinks::refuse;
  auto summary = client::push_tree(**c, a.positional.front(), options, bar.get());
  if (!summary) {
    return fail(summary.error());
  }
  std::optional<client::RefInfo> ref;
  if (!a.ref.empty()) {
    const auto pinned = a.pin ? client::Pinned::yes : client::Pinned::no;
    auto set = client::set_ref_to_pushed_tree(**c, a.positional.front(), summary->root, a.ref,
                                              pinned, options);
    if (!set) {
      return fail(set.error());
    }
    ref = *set;
  }
  if (a.client.json) {
    auto j = summary_json(*summary, "uploaded", (*c)->counters());
    if (ref) {
      j["ref"] = {{"name", ref->name}, {"pinned", ref->pinned}};
    }
    std::printf("%s\n", j.dump().c_str());
    return k_exit_ok;
  }
  if (!a.client.quiet) {
    print_summary(*summary, "pushed", "uploaded", "on the server");
    if (ref) {
      std::fprintf(stderr, "ref %s -> %s%s\n", ref->name.c_str(), ref->digest.to_string().c_str(),
                   ref->pinned ? " (pinned)" : "");
    }
  }
  std::printf("%s\n", summary->root.to_string().c_str());
  return k_exit_ok;
}

int cmd_pull_tree(const TreeArgs& a) {
  const bool by_ref = !a.ref.empty();
  if (a.positional.size() != (by_ref ? 1u : 2u)) {
    return fail(make_error(Errc::invalid_argument,
                           by_ref
                               ? "with --ref, give only the destination: pull-tree --ref NAME DEST"
                               : "give a digest and a destination: pull-tree DIGEST DEST"));
  }
  auto c = make_client(a.client);
  if (!c) {
    return fail(c.error());
  }
  cas::Digest root;
  if (by_ref) {
    auto ref = (*c)->get_ref(a.ref);
    if (!ref) {
      return fail(ref.error());
    }
    root = ref->digest;
  } else {
    auto parsed = cas::parse_digest_text(a.positional.front());
    if (!parsed) {
      return fail(parsed.error());
    }
    root = *parsed;
  }
  client::PullOptions options;
  options.symlinks = a.allow_escaping_symlinks ? client::EscapingSymlinks::allow
                                               : client::EscapingSymlinks::refuse;
  auto bar = progress_for(a.client, "pull");
  auto summary = client::pull_tree(**c, root, a.positional.back(), options, bar.get());
  if (!summary) {
    return fail(summary.error());
  }
  if (a.client.json) {
    std::printf("%s\n", summary_json(*summary, "downloaded", (*c)->counters()).dump().c_str());
  } else if (!a.client.quiet) {
    print_summary(*summary, "pulled", "downloaded", "in place");
  }
  return k_exit_ok;
}

// --- put / get ------------------------------------------------------------------------------

struct BlobArgs {
  ClientArgs client;
  std::string data; // set: a local data dir instead of a server
  std::vector<std::string> files;
  std::string digest;
  std::string output;
};

// stdin has no name to stream from twice (hash, then send): it is spooled to a file first.
Result<fs::path> spool_stdin() {
  const char* dir = std::getenv("TMPDIR");
  std::string pattern = std::string(dir != nullptr ? dir : "/tmp") + "/ingot-stdin-XXXXXX";
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) {
    return errno_error(errno, "cannot create a temporary file in " + pattern);
  }
  UniqueFd out(fd);
  const auto give_up = [&](Error e) -> Result<fs::path> {
    ::unlink(pattern.c_str());
    return e;
  };
  std::vector<std::uint8_t> buf(1 << 20);
  for (;;) {
    const auto n = ::read(STDIN_FILENO, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return give_up(errno_error(errno, "cannot read standard input"));
    }
    if (n == 0) {
      return fs::path(pattern);
    }
    if (auto w = write_all(out.get(), ByteView(buf.data(), static_cast<std::size_t>(n)), pattern);
        !w) {
      return give_up(std::move(w).error());
    }
  }
}

int cmd_put(const BlobArgs& a) {
  if (!a.data.empty()) {
    return put_local(a.data, a.files);
  }
  auto c = make_client(a.client);
  if (!c) {
    return fail(c.error());
  }
  std::vector<fs::path> paths;
  std::optional<fs::path> spooled;
  for (const auto& f : a.files) {
    if (f == "-") {
      auto p = spool_stdin();
      if (!p) {
        return fail(p.error());
      }
      spooled = *p;
      paths.push_back(*p);
    } else {
      paths.emplace_back(f);
    }
  }
  std::vector<cas::Digest> digests(paths.size());
  auto hashed = client::parallel_for(paths.size(), a.client.jobs, [&](std::size_t i) {
    auto d = client::digest_file(paths[i]);
    if (!d) {
      return Result<void>(std::move(d).error());
    }
    digests[i] = *d;
    return Result<void>();
  });
  std::vector<char> uploaded(paths.size(), 0);
  auto sent = [&]() -> Result<void> {
    if (!hashed) {
      return hashed;
    }
    auto missing = (*c)->find_missing(digests);
    if (!missing) {
      return std::move(missing).error();
    }
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < paths.size(); ++i) {
      for (const auto& m : *missing) {
        if (m == digests[i]) {
          todo.push_back(i);
          break;
        }
      }
    }
    return client::parallel_for(todo.size(), a.client.jobs, [&](std::size_t k) {
      const auto i = todo[k];
      uploaded[i] = 1;
      return (*c)->put_file(digests[i], paths[i]);
    });
  }();
  if (spooled) {
    ::unlink(spooled->c_str());
  }
  if (!sent) {
    return fail(sent.error());
  }
  json out = json::array();
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (a.client.json) {
      out.push_back({{"path", a.files[i]},
                     {"digest", digests[i].to_string()},
                     {"uploaded", uploaded[i] != 0}});
    } else {
      std::printf("%s %llu %s\n", digests[i].hex().c_str(),
                  static_cast<unsigned long long>(digests[i].size), a.files[i].c_str());
    }
  }
  if (a.client.json) {
    std::printf("%s\n", json{{"files", out}}.dump().c_str());
  }
  return k_exit_ok;
}

int copy_to_stdout(const fs::path& file) {
  auto fd = open_file(file, O_RDONLY | O_CLOEXEC);
  if (!fd) {
    return fail(fd.error());
  }
  std::vector<std::uint8_t> buf(1 << 20);
  for (std::uint64_t offset = 0;;) {
    auto n = pread_full(fd->get(), buf, offset, file);
    if (!n) {
      return fail(n.error());
    }
    if (auto w = write_all(STDOUT_FILENO, ByteView(buf.data(), *n), "standard output"); !w) {
      return fail(w.error());
    }
    offset += *n;
    if (*n < buf.size()) {
      return k_exit_ok;
    }
  }
}

int cmd_get(const BlobArgs& a) {
  if (!a.data.empty()) {
    return get_local(a.data, a.digest.substr(0, a.digest.find('/')), a.output);
  }
  auto digest = parse_digest_arg(a.digest);
  if (!digest) {
    return fail(digest.error());
  }
  auto c = make_client(a.client);
  if (!c) {
    return fail(c.error());
  }
  if (!a.output.empty() && a.output != "-") {
    auto r = (*c)->get_to_file(*digest, a.output);
    return r ? k_exit_ok : fail(r.error());
  }
  // Standard output gets only verified bytes: the blob lands in a temporary file first.
  const char* dir = std::getenv("TMPDIR");
  const fs::path temp = fs::path(dir != nullptr ? dir : "/tmp") /
                        ("ingot-get-" + std::to_string(::getpid()) + "-" + digest->hex());
  auto r = (*c)->get_to_file(*digest, temp, 0600);
  if (!r) {
    return fail(r.error());
  }
  const int rc = copy_to_stdout(temp);
  ::unlink(temp.c_str());
  return rc;
}

} // namespace

void add_client_commands(CLI::App& app, std::function<int()>& run) {
  // CLI11 options hold references to these, so they outlive parsing.
  static TreeArgs push;
  static TreeArgs pull;
  static BlobArgs blobs;

  auto* push_cmd = app.add_subcommand(
      "push-tree", "Upload a directory as a build tree, sending only what the server lacks; "
                   "prints the root digest <hex>/<size>");
  add_client_flags(push_cmd, push.client);
  push_cmd->add_option("dir", push.positional, "Directory to push")
      ->required()
      ->expected(1)
      ->check(CLI::ExistingDirectory);
  push_cmd->add_option("--ref", push.ref, "Also point this ref at the tree");
  push_cmd->add_flag("--pin", push.pin, "Pin the ref's tree so GC never evicts it (needs --ref)");
  push_cmd->add_flag("--allow-escaping-symlinks", push.allow_escaping_symlinks,
                     "Push symlinks that are absolute or lead out of the tree (refused by "
                     "default, as pull-tree refuses them)");
  push_cmd->add_flag("--json", push.client.json, "Print a JSON summary on stdout");
  push_cmd->add_flag("-q,--quiet", push.client.quiet, "No progress bar or summary");
  push_cmd->callback([&run] {
    run = [] {
      return cmd_push_tree(push);
    };
  });

  auto* pull_cmd = app.add_subcommand(
      "pull-tree", "Download a build tree into DEST, verifying every file; reuses files "
                   "already there with the same content (exit 3 when the tree is unknown)");
  add_client_flags(pull_cmd, pull.client);
  pull_cmd->add_option("args", pull.positional, "DIGEST DEST, or DEST with --ref")
      ->required()
      ->expected(1, 2);
  pull_cmd->add_option("--ref", pull.ref, "Pull the tree this ref names");
  pull_cmd->add_flag("--allow-escaping-symlinks", pull.allow_escaping_symlinks,
                     "Create symlinks that are absolute or lead out of the tree (refused by "
                     "default)");
  pull_cmd->add_flag("--json", pull.client.json, "Print a JSON summary on stdout");
  pull_cmd->add_flag("-q,--quiet", pull.client.quiet, "No progress bar or summary");
  pull_cmd->callback([&run] {
    run = [] {
      return cmd_pull_tree(pull);
    };
  });

  const std::string data_help =
      "Use this local data dir (server stopped) instead of a server, as in `ingot put --data "
      "./ingot-data`";
  auto* put_cmd = app.add_subcommand(
      "put", "Upload files ('-' reads stdin), skipping those the server has; prints "
             "<sha256> <size> <name> per file");
  add_client_flags(put_cmd, blobs.client);
  put_cmd->add_option("--data", blobs.data, data_help);
  put_cmd->add_option("files", blobs.files, "Files to upload")->required();
  put_cmd->add_flag("--json", blobs.client.json, "Print JSON on stdout");
  put_cmd->callback([&run] {
    run = [] {
      return cmd_put(blobs);
    };
  });

  auto* get_cmd = app.add_subcommand(
      "get", "Download a blob, verified, to a file (written atomically) or stdout (exit 3 "
             "when it is not stored, 4 when the server's copy is damaged)");
  add_client_flags(get_cmd, blobs.client);
  get_cmd->add_option("--data", blobs.data, data_help);
  get_cmd
      ->add_option("digest", blobs.digest,
                   "<sha256>, or <sha256>/<size>: then a blob of another size is a miss "
                   "(exit 3) naming both sizes")
      ->required();
  get_cmd->add_option("-o,--output", blobs.output, "Output file (default stdout)");
  get_cmd->callback([&run] {
    run = [] {
      return cmd_get(blobs);
    };
  });
}

} // namespace ingot::tools
