// Internal to cas/: pins, named sets of blobs that GC never evicts (pinned refs, releases),
// kept in the index: a pin set per name, and a pin count per blob that keeps it out of the
// eviction order.
#pragma once

#include "cas/store.hpp"

#include <mutex>
#include <string_view>
#include <vector>

namespace ingot::cas {

class BlobRecords;
class Index;
class Leases;
class Recency;
class SpaceAccount;
class UsageCounters;

class Pins {
public:
  Pins(Index& index, BlobRecords& records, UsageCounters& usage, Recency& recency, Leases& leases,
       SpaceAccount& space);
  Pins(const Pins&) = delete;
  Pins& operator=(const Pins&) = delete;

  // Replaces the set named `name`; every blob must be stored (Errc::not_found naming it).
  // What it writes to the index is reserved under the bound like any write: Errc::no_space
  // when pinned data leaves no room for it.
  [[nodiscard]] Result<void> pin(std::string_view name, std::vector<Hash> blobs);
  [[nodiscard]] Result<void> unpin(std::string_view name);
  [[nodiscard]] Result<bool> is_pinned(std::string_view name);

  // Held while pin sets are read and their counts set (pin, unpin, fsck).
  std::mutex& mutex() { return m_mutex; }

private:
  [[nodiscard]] Result<void> adjust_pin(const Hash& hash, int change);

  Index& m_index;
  BlobRecords& m_records;
  UsageCounters& m_usage;
  Recency& m_recency;
  Leases& m_leases;
  SpaceAccount& m_space;
  std::mutex m_mutex;
};

} // namespace ingot::cas
