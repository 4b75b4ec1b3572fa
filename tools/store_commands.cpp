// put, get: direct access to a local data dir (the server must not be running
// on it; the data dir's lock says so if it is).
#include "cas/store.hpp"
#include "tools/commands.hpp"
#include "util/file_io.hpp"
#include "util/size.hpp"

#include <cstdio>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>

namespace ingot::tools {

namespace {

constexpr std::size_t k_chunk = 1 << 20;
constexpr const char* k_default_data = "./ingot-data";

int fail(const Error& e) {
  std::fprintf(stderr, "ingot: %s\n", e.message.c_str());
  switch (e.code) {
  case Errc::not_found:
    return k_exit_not_found;
  case Errc::corrupt:
    return k_exit_corrupt;
  case Errc::invalid_argument:
    return k_exit_usage;
  default:
    return k_exit_error;
  }
}

Result<std::unique_ptr<cas::Store>> open_store(const std::string& data) {
  cas::StoreOptions options;
  options.dir = data;
  return cas::Store::open(options);
}

Result<cas::Digest> put_file(cas::Store& store, const std::string& path) {
  auto fd =
      path == "-" ? Result<UniqueFd>(UniqueFd(::dup(STDIN_FILENO))) : open_file(path, O_RDONLY);
  if (!fd) {
    return std::move(fd).error();
  }
  auto writer = store.begin_write();
  if (!writer) {
    return std::move(writer).error();
  }
  std::vector<std::uint8_t> buf(k_chunk);
  for (;;) {
    const ssize_t n = ::read(fd->get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno_error(errno, "cannot read " + path);
    }
    if (n == 0) {
      break;
    }
    INGOT_TRY((*writer)->append(ByteView(buf.data(), static_cast<std::size_t>(n))));
  }
  return (*writer)->commit();
}

int cmd_put(const std::string& data, const std::vector<std::string>& files) {
  auto store = open_store(data);
  if (!store) {
    return fail(store.error());
  }
  for (const auto& path : files) {
    auto digest = put_file(**store, path);
    if (!digest) {
      return fail(digest.error());
    }
    std::printf("%s %llu %s\n", digest->hex().c_str(),
                static_cast<unsigned long long>(digest->size), path.c_str());
  }
  return k_exit_ok;
}

int cmd_get(const std::string& data, const std::string& hex, const std::string& out_path) {
  auto hash = cas::parse_hash(hex);
  if (!hash) {
    return fail(hash.error());
  }
  auto store = open_store(data);
  if (!store) {
    return fail(store.error());
  }
  auto reader = (*store)->open_read(*hash);
  if (!reader) {
    return fail(reader.error());
  }
  // Write to a temp name and rename, so a failed read never leaves a partial output file.
  const bool to_stdout = out_path.empty() || out_path == "-";
  const std::string temp = out_path + ".ingot-partial";
  auto fd = to_stdout ? Result<UniqueFd>(UniqueFd(::dup(STDOUT_FILENO)))
                      : open_file(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!fd) {
    return fail(fd.error());
  }
  std::vector<std::uint8_t> buf(k_chunk);
  cas::Sha256 sha;
  for (;;) {
    auto n = (*reader)->read(buf);
    if (!n) {
      ::unlink(temp.c_str());
      return fail(n.error());
    }
    if (*n == 0) {
      break;
    }
    const ByteView chunk(buf.data(), *n);
    sha.update(chunk);
    if (auto w = write_all(fd->get(), chunk, to_stdout ? "stdout" : temp); !w) {
      ::unlink(temp.c_str());
      return fail(w.error());
    }
  }
  // Never hand out bytes that are not what was asked for.
  if (sha.finish().hash != *hash) {
    ::unlink(temp.c_str());
    return fail(make_error(Errc::corrupt, "blob " + hex +
                                              " does not match its digest; run "
                                              "`ingot fsck --data " +
                                              data + "`"));
  }
  if (!to_stdout && ::rename(temp.c_str(), out_path.c_str()) != 0) {
    return fail(errno_error(errno, "cannot move " + temp + " to " + out_path));
  }
  return k_exit_ok;
}

} // namespace

void add_store_commands(CLI::App& app, std::function<int()>& run) {
  // Shared by every subcommand below; CLI11 options hold references to these.
  static std::string data = k_default_data;
  static std::vector<std::string> files;
  static std::string digest;
  static std::string output;
  const std::string data_help = "Data directory (default " + std::string(k_default_data) + ")";

  auto* put = app.add_subcommand("put", "Store files in a local data dir; prints digest, size "
                                        "and name per file ('-' reads stdin)");
  put->add_option("--data", data, data_help);
  put->add_option("files", files, "Files to store")->required();
  put->callback([&run] {
    run = [] {
      return cmd_put(data, files);
    };
  });

  auto* get = app.add_subcommand("get", "Write a blob from a local data dir to a file or stdout "
                                        "(exit 3 when it is not stored)");
  get->add_option("--data", data, data_help);
  get->add_option("digest", digest, "SHA-256 of the blob (64 lowercase hex)")->required();
  get->add_option("-o,--output", output, "Output file (default stdout); written atomically");
  get->callback([&run] {
    run = [] {
      return cmd_get(data, digest, output);
    };
  });
}

} // namespace ingot::tools
