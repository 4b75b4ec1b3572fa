// put and get with --data: direct access to a local data dir (the server must not be running
// on it; the data dir's lock says so if it is).
#include "cas/store.hpp"
#include "tools/commands.hpp"
#include "tools/data_dir.hpp"
#include "util/file_io.hpp"
#include "util/size.hpp"

#include <cstdio>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace ingot::tools {

namespace {

constexpr std::size_t k_chunk = 1 << 20;

Result<std::unique_ptr<cas::Store>> open_store(const std::string& data, std::string_view command) {
  cas::StoreOptions options;
  options.dir = data;
  return open_data_dir(options, stop_the_server_first(command) + ", or leave out --data and " +
                                    "go through it: ingot " + std::string(command) +
                                    " --server http://HOST:PORT");
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
  auto store = open_store(data, "put");
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
  auto store = open_store(data, "get");
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

int put_local(const std::string& data, const std::vector<std::string>& files) {
  return cmd_put(data, files);
}

int get_local(const std::string& data, const std::string& hex, const std::string& output) {
  return cmd_get(data, hex, output);
}

} // namespace ingot::tools
