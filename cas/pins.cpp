// What GC must not evict: pinned sets of blobs (refs, releases), kept in the index.
#include "cas/pins.hpp"

#include "cas/blob_records.hpp"
#include "cas/leases.hpp"
#include "cas/record.hpp"
#include "cas/space_account.hpp"
#include "cas/usage_counters.hpp"
#include "util/hex.hpp"
#include "util/thread_role.hpp"

#include <algorithm>
#include <iterator>

namespace ingot::cas {

namespace {

// What a pin writes to the index: the set, whole, and a count for each blob whose count it
// changes.
std::uint64_t pin_write_bytes(std::string_view name, std::size_t blobs, std::size_t counts) {
  return name.size() + blobs * sizeof(Hash) + k_record_overhead +
         counts * (sizeof(Hash) + k_record_overhead);
}

} // namespace

Pins::Pins(Index& index, BlobRecords& records, UsageCounters& usage, Recency& recency,
           Leases& leases, SpaceAccount& space)
    : m_index(index), m_records(records), m_usage(usage), m_recency(recency), m_leases(leases),
      m_space(space) {}

Result<void> Pins::adjust_pin(const Hash& hash, int change) {
  std::lock_guard lock(m_records.lock(hash));
  auto blob = m_index.get_blob(hash, WithData::no);
  if (!blob) {
    return std::move(blob).error();
  }
  if (!blob->has_value() && change > 0) {
    return make_error(Errc::not_found, "blob " + to_hex(hash) + " is not stored");
  }
  auto count = m_index.pin_count(hash);
  if (!count) {
    return std::move(count).error();
  }
  if (change < 0 && *count == 0) {
    return {};
  }
  const std::uint32_t next = change > 0 ? *count + 1 : *count - 1;
  UsageDelta delta;
  // A blob purged while pinned keeps its count (for when it comes back), not its bytes.
  if (blob->has_value() && (*count == 0) != (next == 0)) {
    const auto bytes = static_cast<std::int64_t>((*blob)->record.stored_size);
    delta.pinned_blobs = next == 0 ? -1 : 1;
    delta.pinned_bytes = next == 0 ? -bytes : bytes;
  }
  INGOT_TRY(m_index.set_pin_count(hash, next, delta));
  m_usage.apply(delta);
  return {};
}

Result<void> Pins::pin(std::string_view name, std::vector<Hash> blobs) {
  expect_may_block("Store::pin");
  std::sort(blobs.begin(), blobs.end());
  blobs.erase(std::unique(blobs.begin(), blobs.end()), blobs.end());
  const Lease lease(m_leases, blobs); // nothing in the set is evicted while it is being pinned
  for (const auto& h : blobs) {
    if (!m_records.contains(h, Use::write)) {
      return make_error(Errc::not_found, "cannot pin blob " + to_hex(h) + ": it is not stored");
    }
  }
  // Reserved as if every blob were pinned anew, once the set is leased and known (the room is
  // never made by evicting it, nor for a pin that fails), and before the lock (an unpin, the
  // way out of a full bound, does not wait for the eviction): a pin set rewritten with each
  // new blob of a release would otherwise pass a bound that pinned data has filled.
  auto room = m_space.reserve(pin_write_bytes(name, blobs.size(), blobs.size()));
  if (!room) {
    return std::move(room).error();
  }
  std::lock_guard lock(m_mutex);
  auto old = m_index.get_pin_set(name);
  if (!old) {
    return std::move(old).error();
  }
  std::sort(old->begin(), old->end());
  // New pins first, then the set, then the old pins go: a crash in between leaves a blob
  // pinned once too often, never one unpinned too early.
  std::vector<Hash> added;
  std::set_difference(blobs.begin(), blobs.end(), old->begin(), old->end(),
                      std::back_inserter(added));
  for (const auto& h : added) {
    INGOT_TRY(adjust_pin(h, +1));
  }
  INGOT_TRY(m_index.put_pin_set(name, blobs));
  std::vector<Hash> dropped;
  std::set_difference(old->begin(), old->end(), blobs.begin(), blobs.end(),
                      std::back_inserter(dropped));
  for (const auto& h : dropped) {
    INGOT_TRY(adjust_pin(h, -1));
  }
  m_space.note_index_write(pin_write_bytes(name, blobs.size(), added.size() + dropped.size()));
  if (!dropped.empty()) {
    m_recency.forget_floor();
  }
  return {};
}

Result<void> Pins::unpin(std::string_view name) {
  expect_may_block("Store::unpin");
  std::lock_guard lock(m_mutex);
  auto old = m_index.get_pin_set(name);
  if (!old) {
    return std::move(old).error();
  }
  // Never refused for room: unpinning is the way out of a bound that pinned data has filled.
  INGOT_TRY(m_index.put_pin_set(name, {}));
  for (const auto& h : *old) {
    INGOT_TRY(adjust_pin(h, -1));
  }
  m_space.note_index_write(pin_write_bytes(name, 0, old->size()));
  m_recency.forget_floor();
  return {};
}

Result<bool> Pins::is_pinned(std::string_view name) {
  auto set = m_index.get_pin_set(name);
  if (!set) {
    return std::move(set).error();
  }
  return !set->empty();
}

} // namespace ingot::cas
