// What GC must not evict: pinned sets of blobs (refs, releases), kept in the index, and leases
// held in memory while an upload or a pin is under way.
#include "cas/store_impl.hpp"
#include "util/hex.hpp"
#include "util/thread_role.hpp"

#include <algorithm>
#include <iterator>

namespace ingot::cas {

Lease::Lease(StoreImpl& store, std::vector<Hash> hashes)
    : m_store(store), m_hashes(std::move(hashes)) {
  for (const auto& h : m_hashes) {
    m_store.hold(h);
  }
}

Lease::~Lease() {
  for (const auto& h : m_hashes) {
    m_store.unhold(h);
  }
}

void StoreImpl::hold(const Hash& hash) {
  std::lock_guard lock(m_leases_mutex);
  ++m_leases[hash];
}

void StoreImpl::unhold(const Hash& hash) {
  std::lock_guard lock(m_leases_mutex);
  auto it = m_leases.find(hash);
  if (it != m_leases.end() && --it->second == 0) {
    m_leases.erase(it);
  }
}

bool StoreImpl::held(const Hash& hash) {
  std::lock_guard lock(m_leases_mutex);
  return m_leases.contains(hash);
}

Result<void> StoreImpl::adjust_pin(const Hash& hash, int change) {
  std::lock_guard lock(stripe(hash));
  auto blob = m_index->get_blob(hash, WithData::no);
  if (!blob) {
    return std::move(blob).error();
  }
  if (!blob->has_value() && change > 0) {
    return make_error(Errc::not_found, "blob " + to_hex(hash) + " is not stored");
  }
  auto count = m_index->pin_count(hash);
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
  INGOT_TRY(m_index->set_pin_count(hash, next, delta));
  apply(delta);
  return {};
}

// Records share the meta table with the store's own settings, under their own prefix.
Result<std::optional<std::string>> StoreImpl::get_record(std::string_view name) {
  return m_index->get_meta("record/" + std::string(name));
}

Result<void> StoreImpl::put_record(std::string_view name, std::string_view value) {
  expect_may_block("Store::put_record");
  return m_index->put_meta("record/" + std::string(name), value);
}

Result<void> StoreImpl::pin(std::string_view name, std::vector<Hash> blobs) {
  expect_may_block("Store::pin");
  std::sort(blobs.begin(), blobs.end());
  blobs.erase(std::unique(blobs.begin(), blobs.end()), blobs.end());
  std::lock_guard lock(m_pin_mutex);
  const Lease lease(*this, blobs); // nothing in the set is evicted while it is being pinned
  for (const auto& h : blobs) {
    if (!contains_written(h)) {
      return make_error(Errc::not_found, "cannot pin blob " + to_hex(h) + ": it is not stored");
    }
  }
  auto old = m_index->get_pin_set(name);
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
  INGOT_TRY(m_index->put_pin_set(name, blobs));
  std::vector<Hash> dropped;
  std::set_difference(old->begin(), old->end(), blobs.begin(), blobs.end(),
                      std::back_inserter(dropped));
  for (const auto& h : dropped) {
    INGOT_TRY(adjust_pin(h, -1));
  }
  if (!dropped.empty()) {
    forget_floor();
  }
  return {};
}

// An unpinned blob goes back into the eviction order at its last use, which may lie below
// the floor where eviction resumes: the next run starts from the beginning of the order, or
// the blob would never be evicted again (until a restart).
void StoreImpl::forget_floor() {
  std::lock_guard gc_lock(m_gc_mutex);
  m_floor = {};
}

Result<void> StoreImpl::unpin(std::string_view name) {
  expect_may_block("Store::unpin");
  std::lock_guard lock(m_pin_mutex);
  auto old = m_index->get_pin_set(name);
  if (!old) {
    return std::move(old).error();
  }
  INGOT_TRY(m_index->put_pin_set(name, {}));
  for (const auto& h : *old) {
    INGOT_TRY(adjust_pin(h, -1));
  }
  forget_floor();
  return {};
}

Result<bool> StoreImpl::is_pinned(std::string_view name) {
  auto set = m_index->get_pin_set(name);
  if (!set) {
    return std::move(set).error();
  }
  return !set->empty();
}

} // namespace ingot::cas
