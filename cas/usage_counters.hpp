// Internal to cas/: the usage counters in memory. Every index commit carries a UsageDelta and
// the same delta is applied here once it is committed, so these agree with the index.
#pragma once

#include "cas/record.hpp"

#include <atomic>
#include <cstdint>

namespace ingot::cas {

class Index;

class UsageCounters {
public:
  explicit UsageCounters(const UsageDelta& loaded) { apply(loaded); }
  UsageCounters(const UsageCounters&) = delete;
  UsageCounters& operator=(const UsageCounters&) = delete;

  // Adds a committed delta.
  void apply(const UsageDelta& delta);
  Usage usage() const;
  std::uint64_t file_bytes() const { return m_file_bytes.load(); }
  std::uint64_t pinned_bytes() const { return m_pinned_bytes.load(); }

  // Counts a client's lookup for the hit rate, in memory; flush_lookups() persists it.
  void count_lookup(bool hit);
  // Commits the lookups counted since the last flush; on failure they stay counted for the
  // next one.
  [[nodiscard]] Result<void> flush_lookups(Index& index);

private:
  std::atomic<std::uint64_t> m_blobs{0};
  std::atomic<std::uint64_t> m_logical_bytes{0};
  std::atomic<std::uint64_t> m_stored_bytes{0};
  std::atomic<std::uint64_t> m_ac_entries{0};
  std::atomic<std::uint64_t> m_kv_entries{0};
  std::atomic<std::uint64_t> m_ref_entries{0};
  std::atomic<std::uint64_t> m_nix_entries{0};
  std::atomic<std::uint64_t> m_file_bytes{0};
  std::atomic<std::uint64_t> m_pinned_blobs{0};
  std::atomic<std::uint64_t> m_pinned_bytes{0};
  std::atomic<std::uint64_t> m_hits{0};
  std::atomic<std::uint64_t> m_misses{0};
  // Lookups counted since the last flush, persisted by the background thread.
  std::atomic<std::uint64_t> m_new_hits{0};
  std::atomic<std::uint64_t> m_new_misses{0};
};

} // namespace ingot::cas
