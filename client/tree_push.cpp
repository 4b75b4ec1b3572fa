#include "client/client.hpp"
#include "client/parallel.hpp"
#include "client/transfer.hpp"
#include "util/file_io.hpp"

#include <fcntl.h>
#include <unordered_set>

namespace ingot::client {

namespace {

namespace fs = std::filesystem;

// A blob to upload: a Directory message held in memory, or a file read when it is sent.
struct Upload {
  cas::Digest digest;
  const std::string* message = nullptr; // a Directory
  const TreeFile* file = nullptr;
};

// Small uploads grouped into one batch request; a large one alone.
struct Job {
  std::vector<std::size_t> uploads;
  bool batch = false;
};

std::vector<Job> plan_jobs(const std::vector<Upload>& uploads) {
  std::vector<Job> jobs;
  Job batch{{}, true};
  std::uint64_t batch_bytes = 0;
  for (std::size_t i = 0; i < uploads.size(); ++i) {
    const auto size = uploads[i].digest.size;
    if (size > k_batch_blob_limit) {
      jobs.push_back({{i}, false});
      continue;
    }
    if (batch_bytes + size > k_batch_bytes || batch.uploads.size() >= k_batch_count) {
      jobs.push_back(std::move(batch));
      batch = {{}, true};
      batch_bytes = 0;
    }
    batch.uploads.push_back(i);
    batch_bytes += size;
  }
  if (!batch.uploads.empty()) {
    jobs.push_back(std::move(batch));
  }
  return jobs;
}

Result<std::string> read_small_file(const fs::path& path, std::uint64_t size) {
  auto fd = open_file(path, O_RDONLY | O_CLOEXEC);
  if (!fd) {
    return std::move(fd).error();
  }
  std::string data(size, '\0');
  auto n = pread_full(fd->get(),
                      MutableByteView(reinterpret_cast<std::uint8_t*>(data.data()), size), 0, path);
  if (!n) {
    return std::move(n).error();
  }
  if (*n != size) {
    return make_error(Errc::invalid_argument,
                      path.string() + " changed while it was being pushed; push again");
  }
  return data;
}

} // namespace

Result<TransferSummary> push_tree(Client& client, const fs::path& dir, const PushOptions& options,
                                  ProgressSink* progress) {
  const auto started = std::chrono::steady_clock::now();
  auto tree = scan_tree(dir, client.options().parallelism, options.symlinks);
  if (!tree) {
    return std::move(tree).error();
  }
  TransferSummary summary;
  summary.root = tree->root;
  summary.files = tree->files.size();
  summary.bytes = tree->file_bytes;
  summary.directories = tree->directories.size();
  summary.symlinks = tree->symlinks;

  // One upload per distinct blob: the same content under two names travels once.
  std::vector<Upload> candidates;
  std::unordered_set<cas::Hash> seen;
  for (const auto& [digest, message] : tree->directories) {
    if (seen.insert(digest.hash).second) {
      candidates.push_back({digest, &message, nullptr});
    }
  }
  for (const auto& file : tree->files) {
    if (seen.insert(file.digest.hash).second) {
      candidates.push_back({file.digest, nullptr, &file});
    }
  }
  std::vector<cas::Digest> digests;
  digests.reserve(candidates.size());
  for (const auto& c : candidates) {
    digests.push_back(c.digest);
  }
  auto missing = client.find_missing(digests);
  if (!missing) {
    return std::move(missing).error();
  }
  std::unordered_set<cas::Hash> missing_set;
  for (const auto& d : *missing) {
    missing_set.insert(d.hash);
  }
  std::vector<Upload> uploads;
  for (const auto& c : candidates) {
    if (missing_set.contains(c.digest.hash)) {
      uploads.push_back(c);
    }
  }
  // Count files as the user sees them: every path whose content had to be sent.
  for (const auto& file : tree->files) {
    if (missing_set.contains(file.digest.hash)) {
      ++summary.transferred_files;
      summary.transferred_bytes += file.digest.size;
    } else {
      ++summary.present_files;
      summary.present_bytes += file.digest.size;
    }
  }

  std::uint64_t upload_bytes = 0;
  std::size_t upload_files = 0;
  for (const auto& u : uploads) {
    if (u.file != nullptr) {
      upload_bytes += u.digest.size;
      ++upload_files;
    }
  }
  if (progress != nullptr) {
    progress->start(upload_files, upload_bytes);
  }
  const auto jobs = plan_jobs(uploads);
  auto sent = parallel_for(jobs.size(), client.options().parallelism, [&](std::size_t j) {
    const auto& job = jobs[j];
    std::size_t files = 0;
    std::uint64_t bytes = 0;
    if (!job.batch) {
      const auto& u = uploads[job.uploads.front()];
      auto r = u.file != nullptr ? client.put_file(u.digest, dir / u.file->path)
                                 : client.put(u.digest, *u.message);
      if (!r) {
        return r;
      }
      files = u.file != nullptr ? 1 : 0;
      bytes = u.file != nullptr ? u.digest.size : 0;
    } else {
      std::vector<BlobData> blobs;
      for (const auto i : job.uploads) {
        const auto& u = uploads[i];
        if (u.message != nullptr) {
          blobs.push_back({u.digest, *u.message});
          continue;
        }
        auto data = read_small_file(dir / u.file->path, u.digest.size);
        if (!data) {
          return Result<void>(std::move(data).error());
        }
        if (cas::digest_of(*data) != u.digest) {
          return Result<void>(make_error(Errc::invalid_argument,
                                         (dir / u.file->path).string() +
                                             " changed while it was being pushed; push again"));
        }
        blobs.push_back({u.digest, std::move(*data)});
        ++files;
        bytes += u.digest.size;
      }
      if (auto r = client.batch_update(blobs); !r) {
        return r;
      }
    }
    if (progress != nullptr) {
      progress->advance(files, bytes);
    }
    return Result<void>();
  });
  if (progress != nullptr) {
    progress->finish();
  }
  if (!sent) {
    return std::move(sent).error();
  }
  summary.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return summary;
}

Result<RefInfo> set_ref_to_pushed_tree(Client& client, const fs::path& dir, const cas::Digest& root,
                                       std::string_view name, Pinned pinned,
                                       const PushOptions& options) {
  auto set = client.put_ref(name, root, pinned);
  if (set || set.error().code != Errc::invalid_argument) {
    return set;
  }
  // Once: if the tree is still incomplete, the ref or the tree is what is wrong, or GC evicts
  // faster than this client pushes; pushing again would not change either.
  if (auto again = push_tree(client, dir, options); !again) {
    return std::move(again).error();
  }
  return client.put_ref(name, root, pinned);
}

} // namespace ingot::client
