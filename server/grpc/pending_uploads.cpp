#include "server/grpc/pending_uploads.hpp"

namespace ingot::server::grpc_front {

void PendingUploads::expire(std::vector<PartialUpload>& dropped) {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = m_kept.begin(); it != m_kept.end();) {
    if (now - it->second.since > k_keep) {
      dropped.push_back(std::move(it->second.upload));
      it = m_kept.erase(it);
    } else {
      ++it;
    }
  }
}

std::optional<PartialUpload> PendingUploads::resume(const std::string& name, std::uint64_t offset,
                                                    std::vector<PartialUpload>& dropped) {
  const std::lock_guard lock(m_mutex);
  expire(dropped);
  const auto it = m_kept.find(name);
  if (it == m_kept.end()) {
    return std::nullopt;
  }
  auto upload = std::move(it->second.upload);
  m_kept.erase(it);
  if (upload.committed != offset) {
    dropped.push_back(std::move(upload));
    return std::nullopt;
  }
  return upload;
}

std::vector<PartialUpload> PendingUploads::keep(std::string name, PartialUpload upload) {
  std::vector<PartialUpload> dropped;
  const std::lock_guard lock(m_mutex);
  expire(dropped);
  if (auto it = m_kept.find(name); it != m_kept.end()) {
    dropped.push_back(std::move(it->second.upload));
    m_kept.erase(it);
  }
  while (m_kept.size() >= k_max) {
    // The one kept longest goes first.
    auto oldest = m_kept.begin();
    for (auto it = m_kept.begin(); it != m_kept.end(); ++it) {
      if (it->second.since < oldest->second.since) {
        oldest = it;
      }
    }
    dropped.push_back(std::move(oldest->second.upload));
    m_kept.erase(oldest);
  }
  m_kept.emplace(std::move(name), Kept{std::move(upload), std::chrono::steady_clock::now()});
  return dropped;
}

std::vector<PartialUpload> PendingUploads::expired() {
  std::vector<PartialUpload> dropped;
  const std::lock_guard lock(m_mutex);
  expire(dropped);
  return dropped;
}

std::optional<std::uint64_t> PendingUploads::committed(const std::string& name) {
  const std::lock_guard lock(m_mutex);
  const auto now = std::chrono::steady_clock::now();
  const auto it = m_kept.find(name);
  if (it == m_kept.end() || now - it->second.since > k_keep) {
    return std::nullopt; // an expired one is not offered: resume() would drop it
  }
  return it->second.upload.committed;
}

} // namespace ingot::server::grpc_front
