// Internal to server/grpc/: ByteStream writes cut short, kept so that a client can resume them
// (QueryWriteStatus says from where). Keyed by the whole resource name, UUID and digest both:
// BuildStream 1.6 sends every upload of a session with one UUID.
#pragma once

#include "cas/digest.hpp"
#include "server/upload.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ingot::server::grpc_front {

struct PartialUpload {
  std::unique_ptr<UploadSink> sink;
  cas::Digest digest;
  bool zstd = false;
  std::uint64_t committed = 0; // bytes received: the blob's, or compressed ones
};

class PendingUploads {
public:
  // At most this many are kept, each for at most `k_keep`: they hold temporary files and
  // reserved space, and a client that never comes back must not hold them for long.
  static constexpr std::size_t k_max = 64;
  static constexpr std::chrono::minutes k_keep{10};

  // The upload `name` left at `offset`, taken out (one call resumes it). Anything else kept
  // under that name is dropped: a client that starts again from 0 abandons it.
  [[nodiscard]] std::optional<PartialUpload> resume(const std::string& name, std::uint64_t offset,
                                                    std::vector<PartialUpload>& dropped);
  // Keeps an upload cut short. Returns what no longer fits or has expired, for the caller to
  // destroy where waiting for the disk is allowed.
  [[nodiscard]] std::vector<PartialUpload> keep(std::string name, PartialUpload upload);
  // How many bytes `name` has kept, if it has.
  std::optional<std::uint64_t> committed(const std::string& name);
  // What has been kept too long, taken out for the caller to destroy (called once a second).
  [[nodiscard]] std::vector<PartialUpload> expired();

private:
  struct Kept {
    PartialUpload upload;
    std::chrono::steady_clock::time_point since;
  };
  void expire(std::vector<PartialUpload>& dropped); // with m_mutex held

  std::mutex m_mutex;
  std::map<std::string, Kept> m_kept;
};

} // namespace ingot::server::grpc_front
