// Moving whole build trees: push a local directory, pull a tree into a destination.
#pragma once

#include "cas/digest.hpp"
#include "client/client.hpp"
#include "client/tree.hpp"
#include "util/result.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string_view>

namespace ingot::client {

// What a transfer did. "Transferred" went over the network; "present" was already there (on
// the server for a push, at the destination for a pull) and was not sent.
struct TransferSummary {
  cas::Digest root;
  std::size_t files = 0;
  std::uint64_t bytes = 0;
  std::size_t directories = 0;
  std::size_t symlinks = 0;
  std::size_t transferred_files = 0;
  std::uint64_t transferred_bytes = 0;
  std::size_t present_files = 0;
  std::uint64_t present_bytes = 0;
  std::chrono::milliseconds duration{0};
};

// Told how a transfer advances; called from several threads at once.
class ProgressSink {
public:
  virtual ~ProgressSink() = default;
  virtual void start(std::size_t files, std::uint64_t bytes) = 0;
  virtual void advance(std::size_t files, std::uint64_t bytes) = 0;
  virtual void finish() = 0;
};

struct PushOptions {
  // pull-tree refuses what leads out of the tree; push-tree refuses it first, by the same rule.
  EscapingSymlinks symlinks = EscapingSymlinks::refuse;
};

// Hashes `dir`, asks the server once which blobs it lacks, and uploads only those, small ones
// in batches and large ones streamed, options().parallelism at a time. Returns the root
// Directory digest in the summary.
[[nodiscard]] Result<TransferSummary> push_tree(Client& client, const std::filesystem::path& dir,
                                                const PushOptions& options = {},
                                                ProgressSink* progress = nullptr);

// Points ref `name` at `root`, the tree pushed from `dir`. The server refuses a ref to a tree
// it does not hold whole (Errc::invalid_argument): a blob found present during the push may
// have been evicted since. Then `dir` is pushed once more (with `options`), sending what is
// gone, and the ref set again; a second refusal is returned as it is.
[[nodiscard]] Result<RefInfo>
set_ref_to_pushed_tree(Client& client, const std::filesystem::path& dir, const cas::Digest& root,
                       std::string_view name, Pinned pinned, const PushOptions& options = {});

struct PullOptions {
  EscapingSymlinks symlinks = EscapingSymlinks::refuse;
};

// Gets every Directory of `root` in one request, checks it (tree.hpp, plan_tree), then
// creates the directories, fetches the files `dest` does not already hold with the same
// content, writes each atomically with its mode (0755 executable, else 0644), and makes the
// symlinks. Files at `dest` that the tree does not name are left alone.
[[nodiscard]] Result<TransferSummary> pull_tree(Client& client, const cas::Digest& root,
                                                const std::filesystem::path& dest,
                                                const PullOptions& options = {},
                                                ProgressSink* progress = nullptr);

} // namespace ingot::client
