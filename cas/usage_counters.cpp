#include "cas/usage_counters.hpp"

#include "cas/index.hpp"

namespace ingot::cas {

void UsageCounters::apply(const UsageDelta& d) {
  // Unsigned wrap-around makes adding a negative delta a subtraction.
  m_blobs += static_cast<std::uint64_t>(d.blobs);
  m_logical_bytes += static_cast<std::uint64_t>(d.logical_bytes);
  m_stored_bytes += static_cast<std::uint64_t>(d.stored_bytes);
  m_ac_entries += static_cast<std::uint64_t>(d.ac_entries);
  m_kv_entries += static_cast<std::uint64_t>(d.kv_entries);
  m_ref_entries += static_cast<std::uint64_t>(d.ref_entries);
  m_nix_entries += static_cast<std::uint64_t>(d.nix_entries);
  m_file_bytes += static_cast<std::uint64_t>(d.file_bytes);
  m_pinned_blobs += static_cast<std::uint64_t>(d.pinned_blobs);
  m_pinned_bytes += static_cast<std::uint64_t>(d.pinned_bytes);
  m_hits += static_cast<std::uint64_t>(d.hits);
  m_misses += static_cast<std::uint64_t>(d.misses);
}

Usage UsageCounters::usage() const {
  Usage u;
  u.blobs = m_blobs.load();
  u.logical_bytes = m_logical_bytes.load();
  u.stored_bytes = m_stored_bytes.load();
  u.ac_entries = m_ac_entries.load();
  u.kv_entries = m_kv_entries.load();
  u.ref_entries = m_ref_entries.load();
  u.nix_entries = m_nix_entries.load();
  u.file_bytes = m_file_bytes.load();
  u.pinned_blobs = m_pinned_blobs.load();
  u.pinned_bytes = m_pinned_bytes.load();
  u.hits = m_hits.load() + m_new_hits.load();
  u.misses = m_misses.load() + m_new_misses.load();
  return u;
}

void UsageCounters::count_lookup(bool hit) {
  (hit ? m_new_hits : m_new_misses).fetch_add(1, std::memory_order_relaxed);
}

Result<void> UsageCounters::flush_lookups(Index& index) {
  UsageDelta counts;
  counts.hits = static_cast<std::int64_t>(m_new_hits.exchange(0));
  counts.misses = static_cast<std::int64_t>(m_new_misses.exchange(0));
  if (is_zero(counts)) {
    return {};
  }
  if (auto r = index.add_usage(counts); !r) {
    m_new_hits += static_cast<std::uint64_t>(counts.hits);
    m_new_misses += static_cast<std::uint64_t>(counts.misses);
    return r;
  }
  apply(counts);
  return {};
}

} // namespace ingot::cas
