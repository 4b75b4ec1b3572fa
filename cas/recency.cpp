#include "cas/recency.hpp"

#include "cas/blob_records.hpp"
#include "cas/usage_counters.hpp"

#include <algorithm>
#include <chrono>

namespace ingot::cas {

Recency::Recency(Index& index, UsageCounters& usage, std::function<std::int64_t()> clock,
                 std::int64_t read_protection_s)
    : m_index(index), m_usage(usage), m_clock(std::move(clock)),
      m_read_protection_s(read_protection_s) {}

std::int64_t Recency::now() const {
  if (m_clock) {
    return m_clock();
  }
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t Recency::tick() {
  // Never behind a tick already handed out: a wall clock stepped back must not put new uses
  // before the eviction floor, where eviction would not see them until a restart.
  const std::int64_t t = now();
  std::int64_t last = m_last_tick.load();
  while (t > last && !m_last_tick.compare_exchange_weak(last, t)) {
  }
  return std::max(t, last);
}

void Recency::touch(const Hash& hash, Use use) {
  auto& shard = m_touches[hash[2] % m_touches.size()];
  std::lock_guard lock(shard.mutex);
  auto [it, added] = shard.hashes.try_emplace(hash, use);
  if (!added && use == Use::read) {
    it->second = Use::read;
  }
}

bool Recency::touched(const Hash& hash) {
  auto& shard = m_touches[hash[2] % m_touches.size()];
  std::lock_guard lock(shard.mutex);
  return shard.hashes.contains(hash);
}

Result<void> Recency::flush(BlobRecords& records) {
  const auto tick = this->tick();
  for (auto& shard : m_touches) {
    std::unordered_map<Hash, Use, HashHasher> hashes;
    {
      std::lock_guard lock(shard.mutex);
      hashes.swap(shard.hashes);
    }
    // A blob's key in the eviction order stays in the recent future after a read (see
    // StoreOptions::read_protection_s); the floor never passes tick(), so new writes, which
    // sort before it, are still seen by eviction.
    for (const auto& [hash, use] : hashes) {
      const auto at = use == Use::read ? tick + m_read_protection_s : tick;
      INGOT_TRY(records.touch_stored(hash, at));
    }
  }
  return m_usage.flush_lookups(m_index);
}

LruKey Recency::floor() {
  std::lock_guard lock(m_floor_mutex);
  return m_floor;
}

void Recency::forget_floor() {
  std::lock_guard lock(m_floor_mutex);
  m_floor = {};
}

} // namespace ingot::cas
