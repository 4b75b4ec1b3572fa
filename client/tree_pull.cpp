#include "client/client.hpp"
#include "client/parallel.hpp"
#include "client/temp_path.hpp"
#include "client/transfer.hpp"
#include "util/file_io.hpp"
#include "util/function_ref.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace ingot::client {

namespace {

namespace fs = std::filesystem;

// A local copy of a file already pulled moves through this much memory at a time.
constexpr std::size_t k_copy_buffer = 1u << 20;

unsigned mode_of(const TreeFile& f) {
  return f.executable ? 0755 : 0644;
}

// Creates `path` whole or not at all: `fill` writes the content into a temporary file beside
// it, which gets `mode` and is renamed over `path`; on any failure the temporary file goes.
Result<void> create_atomic(const fs::path& path, unsigned mode,
                           FunctionRef<Result<void>(int fd)> fill) {
  const auto temp = temp_path_beside(path);
  auto fd = open_file(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (!fd) {
    return std::move(fd).error();
  }
  auto r = fill(fd->get());
  if (r && ::fchmod(fd->get(), mode) != 0) {
    r = errno_error(errno, "cannot set the mode of " + temp.string());
  }
  fd->reset();
  if (r && ::rename(temp.c_str(), path.c_str()) != 0) {
    r = errno_error(errno, "cannot rename " + temp.string() + " to " + path.string());
  }
  if (!r) {
    ::unlink(temp.c_str());
  }
  return r;
}

Result<void> write_atomic(const fs::path& path, std::string_view data, unsigned mode) {
  return create_atomic(path, mode, [&](int fd) { return write_all(fd, as_bytes(data), path); });
}

// Copies with checked writes, not std::filesystem::copy_file: libstdc++ 12's (sendfile) gave
// success for a copy that a full disk had cut short.
Result<void> copy_atomic(const fs::path& from, const fs::path& to, unsigned mode) {
  auto in = open_file(from, O_RDONLY | O_CLOEXEC);
  if (!in) {
    return std::move(in).error();
  }
  return create_atomic(to, mode, [&](int fd) -> Result<void> {
    std::vector<std::uint8_t> buffer(k_copy_buffer);
    for (std::uint64_t offset = 0;;) {
      auto n = pread_full(in->get(), buffer, offset, from);
      if (!n) {
        return std::move(n).error();
      }
      if (auto w = write_all(fd, ByteView(buffer.data(), *n), to); !w) {
        return w;
      }
      offset += *n;
      if (*n < buffer.size()) {
        return {};
      }
    }
  });
}

// Creates a directory of the tree; something else already at its path is an error, so that
// a symlink placed there cannot redirect the pull outside the destination.
Result<void> ensure_directory(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      return {};
    }
    return make_error(Errc::invalid_argument,
                      path.string() + " exists and is not a directory; the tree has one there");
  }
  if (errno != ENOENT) {
    return errno_error(errno, "cannot inspect " + path.string());
  }
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return errno_error(errno, "cannot create " + path.string());
  }
  return {};
}

// True when `path` already holds the file's content; its mode is then set right.
Result<bool> already_present(const fs::path& path, const TreeFile& file) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return false;
    }
    return errno_error(errno, "cannot inspect " + path.string());
  }
  if (S_ISDIR(st.st_mode)) {
    return make_error(Errc::invalid_argument,
                      path.string() + " is a directory; the tree has a file there");
  }
  if (!S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != file.digest.size) {
    return false;
  }
  auto digest = digest_file(path);
  if (!digest || *digest != file.digest) {
    return false;
  }
  if ((st.st_mode & 07777) != mode_of(file) && ::chmod(path.c_str(), mode_of(file)) != 0) {
    return errno_error(errno, "cannot set the mode of " + path.string());
  }
  return true;
}

Result<void> make_symlink(const fs::path& path, const std::string& target) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      return make_error(Errc::invalid_argument,
                        path.string() + " is a directory; the tree has a symlink there");
    }
    if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      if (fs::read_symlink(path, ec).string() == target && !ec) {
        return {};
      }
    }
  }
  const auto temp = temp_path_beside(path);
  if (::symlink(target.c_str(), temp.c_str()) != 0) {
    return errno_error(errno, "cannot create symlink " + path.string());
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    auto e = errno_error(errno, "cannot put symlink " + path.string() + " in place");
    ::unlink(temp.c_str());
    return e;
  }
  return {};
}

// The paths of the tree that share one blob: fetched once, copied to the others.
struct Fetch {
  cas::Digest digest;
  std::vector<const TreeFile*> files;
};

Error naming(const TreeFile& file, Error e) {
  e.message = file.path + ": " + e.message;
  return e;
}

} // namespace

Result<TransferSummary> pull_tree(Client& client, const cas::Digest& root, const fs::path& dest,
                                  const PullOptions& options, ProgressSink* progress) {
  const auto started = std::chrono::steady_clock::now();
  auto message = client.get_tree(root);
  if (!message) {
    return std::move(message).error();
  }
  auto plan = plan_tree(*message, root, options.symlinks);
  if (!plan) {
    return std::move(plan).error();
  }
  TransferSummary summary;
  summary.root = root;
  summary.files = plan->files.size();
  summary.bytes = plan->file_bytes;
  summary.directories = plan->directories.size() + 1;
  summary.symlinks = plan->symlinks.size();

  std::error_code ec;
  fs::create_directories(dest, ec);
  if (ec || !fs::is_directory(dest)) {
    return make_error(Errc::invalid_argument, "cannot use " + dest.string() + " as destination" +
                                                  (ec ? ": " + ec.message() : ": not a directory"));
  }
  for (const auto& d : plan->directories) {
    if (auto r = ensure_directory(dest / d); !r) {
      return std::move(r).error();
    }
  }

  const unsigned threads = client.options().parallelism;
  std::vector<char> present(plan->files.size(), 0);
  auto checked = parallel_for(plan->files.size(), threads, [&](std::size_t i) -> Result<void> {
    auto here = already_present(dest / plan->files[i].path, plan->files[i]);
    if (!here) {
      return std::move(here).error();
    }
    present[i] = *here ? 1 : 0;
    return {};
  });
  if (!checked) {
    return std::move(checked).error();
  }

  std::vector<Fetch> fetches;
  std::unordered_map<cas::Hash, std::size_t> fetch_of;
  for (std::size_t i = 0; i < plan->files.size(); ++i) {
    const auto& file = plan->files[i];
    if (present[i] != 0) {
      ++summary.present_files;
      summary.present_bytes += file.digest.size;
      continue;
    }
    ++summary.transferred_files;
    summary.transferred_bytes += file.digest.size;
    auto [it, fresh] = fetch_of.try_emplace(file.digest.hash, fetches.size());
    if (fresh) {
      fetches.push_back({file.digest, {}});
    }
    fetches[it->second].files.push_back(&file);
  }

  // Small blobs in batches, large ones streamed one per request.
  std::vector<std::vector<std::size_t>> jobs;
  std::vector<std::size_t> batch;
  std::uint64_t batch_bytes = 0;
  for (std::size_t i = 0; i < fetches.size(); ++i) {
    const auto size = fetches[i].digest.size;
    if (size > k_batch_blob_limit) {
      jobs.push_back({i});
      continue;
    }
    if (batch_bytes + size > k_batch_bytes || batch.size() >= k_batch_count) {
      jobs.push_back(std::move(batch));
      batch.clear();
      batch_bytes = 0;
    }
    batch.push_back(i);
    batch_bytes += size;
  }
  if (!batch.empty()) {
    jobs.push_back(std::move(batch));
  }

  if (progress != nullptr) {
    progress->start(summary.transferred_files, summary.transferred_bytes);
  }
  // Every path after the first gets a local copy of what the first received.
  const auto place_copies = [&](const Fetch& f) -> Result<void> {
    const auto first = dest / f.files.front()->path;
    for (std::size_t k = 1; k < f.files.size(); ++k) {
      if (auto r = copy_atomic(first, dest / f.files[k]->path, mode_of(*f.files[k])); !r) {
        return naming(*f.files[k], std::move(r).error());
      }
    }
    return {};
  };
  const auto report = [&](const Fetch& f) {
    if (progress != nullptr) {
      progress->advance(f.files.size(), f.digest.size * f.files.size());
    }
  };
  auto fetched = parallel_for(jobs.size(), threads, [&](std::size_t j) -> Result<void> {
    const auto& job = jobs[j];
    if (job.size() == 1 && fetches[job.front()].digest.size > k_batch_blob_limit) {
      const auto& f = fetches[job.front()];
      const auto& file = *f.files.front();
      if (auto r = client.get_to_file(f.digest, dest / file.path, mode_of(file)); !r) {
        return naming(file, std::move(r).error());
      }
      report(f);
      return place_copies(f);
    }
    std::vector<cas::Digest> digests;
    for (const auto i : job) {
      digests.push_back(fetches[i].digest);
    }
    auto blobs = client.batch_read(digests);
    if (!blobs) {
      return std::move(blobs).error();
    }
    for (std::size_t k = 0; k < job.size(); ++k) {
      const auto& f = fetches[job[k]];
      auto& blob = (*blobs)[k];
      if (!blob) {
        return naming(*f.files.front(), std::move(blob).error());
      }
      for (const auto* file : f.files) {
        if (auto r = write_atomic(dest / file->path, *blob, mode_of(*file)); !r) {
          return naming(*file, std::move(r).error());
        }
      }
      report(f);
    }
    return {};
  });
  if (progress != nullptr) {
    progress->finish();
  }
  if (!fetched) {
    return std::move(fetched).error();
  }
  for (const auto& s : plan->symlinks) {
    if (auto r = make_symlink(dest / s.path, s.target); !r) {
      return std::move(r).error();
    }
  }
  summary.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return summary;
}

} // namespace ingot::client
