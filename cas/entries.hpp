// Internal to cas/: namespace entries (ac, kv, ref, nix), key -> digest of a stored blob, with a
// back reference from the blob to each entry naming it, so that evicting the blob drops them.
#pragma once

#include "cas/store.hpp"

#include <array>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ingot::cas {

class BlobRecords;
class Index;
class SpaceAccount;
class UsageCounters;

class Entries {
public:
  Entries(Index& index, BlobRecords& records, UsageCounters& usage, SpaceAccount& space);
  Entries(const Entries&) = delete;
  Entries& operator=(const Entries&) = delete;

  [[nodiscard]] Result<Entry> get(Namespace ns, std::string_view key);
  [[nodiscard]] Result<void> put(Namespace ns, std::string_view key, const Digest& value);
  [[nodiscard]] Result<void> remove(Namespace ns, std::string_view key);
  [[nodiscard]] Result<std::vector<std::pair<std::string, Entry>>>
  list(Namespace ns, std::string_view prefix, std::size_t limit);

  // Drops the entries whose value was `hash` (a blob of `bytes` stored bytes, just removed),
  // counting them into `report`.
  [[nodiscard]] Result<void> drop_entries_of(const Hash& hash, std::uint64_t bytes,
                                             GcReport& report);

  // Namespace keys lock apart from blobs, so eviction may hold a blob and then its entries.
  std::mutex& lock(std::string_view key) {
    return m_locks[std::hash<std::string_view>{}(key) % m_locks.size()];
  }

private:
  Index& m_index;
  BlobRecords& m_records;
  UsageCounters& m_usage;
  SpaceAccount& m_space;
  std::array<std::mutex, 64> m_locks;
};

} // namespace ingot::cas
