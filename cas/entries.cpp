#include "cas/entries.hpp"

#include "cas/blob_records.hpp"
#include "cas/gc_report.hpp"
#include "cas/space_account.hpp"
#include "cas/usage_counters.hpp"
#include "util/thread_role.hpp"

#include <chrono>

namespace ingot::cas {

namespace {

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<void> check_key(Namespace ns, std::string_view key) {
  if (key.empty() || key.size() > k_max_key_size) {
    return make_error(Errc::invalid_argument, std::string(to_string(ns)) + " key must be 1 to " +
                                                  std::to_string(k_max_key_size) + " bytes");
  }
  return {};
}

} // namespace

Entries::Entries(Index& index, BlobRecords& records, UsageCounters& usage, SpaceAccount& space)
    : m_index(index), m_records(records), m_usage(usage), m_space(space) {}

Result<Entry> Entries::get(Namespace ns, std::string_view key) {
  INGOT_TRY(check_key(ns, key));
  auto entry = m_index.get_entry(ns, key);
  if (!entry) {
    return std::move(entry).error();
  }
  if (!entry->has_value()) {
    return make_error(Errc::not_found, std::string(to_string(ns)) + " key not found");
  }
  // An entry whose value is gone is not a hit (eviction drops such entries; one written
  // while its value was being evicted can remain).
  if (auto value = m_records.stat((*entry)->value.hash, Use::read); !value) {
    if (value.error().code != Errc::not_found) {
      return std::move(value).error(); // not known to be gone (an I/O error, a memory-only read)
    }
    return make_error(Errc::not_found, std::string(to_string(ns)) + " key's value blob " +
                                           (*entry)->value.hex() + " is gone");
  }
  return **entry;
}

Result<void> Entries::put(Namespace ns, std::string_view key, const Digest& value) {
  expect_may_block("Store::ns_put");
  INGOT_TRY(check_key(ns, key));
  auto info = m_records.stat(value.hash, Use::write); // naming a value is writing, not reading it
  if (!info) {
    return std::move(info).error();
  }
  if (info->digest.size != value.size) {
    return make_error(Errc::invalid_argument, "value " + value.to_string() +
                                                  " does not match the stored size " +
                                                  std::to_string(info->digest.size));
  }
  std::lock_guard lock(this->lock(key));
  auto existing = m_index.get_entry(ns, key);
  if (!existing) {
    return std::move(existing).error();
  }
  UsageDelta delta;
  std::optional<Hash> previous;
  if (existing->has_value()) {
    previous = (*existing)->value.hash;
  } else {
    entries_field(delta, ns) = 1;
  }
  INGOT_TRY(m_index.put_entry(ns, key, Entry{value, now_unix_ms()}, previous, delta));
  m_usage.apply(delta);
  m_space.note_index_write(2 * key.size() + k_record_overhead);
  return {};
}

Result<void> Entries::remove(Namespace ns, std::string_view key) {
  expect_may_block("Store::ns_remove");
  INGOT_TRY(check_key(ns, key));
  std::lock_guard lock(this->lock(key));
  auto existing = m_index.get_entry(ns, key);
  if (!existing) {
    return std::move(existing).error();
  }
  if (!existing->has_value()) {
    return make_error(Errc::not_found, std::string(to_string(ns)) + " key not found");
  }
  UsageDelta delta;
  entries_field(delta, ns) = -1;
  INGOT_TRY(m_index.delete_entry(ns, key, (*existing)->value.hash, delta));
  m_usage.apply(delta);
  return {};
}

Result<std::vector<std::pair<std::string, Entry>>>
Entries::list(Namespace ns, std::string_view prefix, std::size_t limit) {
  if (prefix.size() > k_max_key_size) {
    return make_error(Errc::invalid_argument, "prefix is longer than any key");
  }
  return m_index.list_entries(ns, prefix, limit);
}

Result<void> Entries::drop_entries_of(const Hash& hash, std::uint64_t bytes, GcReport& report) {
  auto refs = m_index.entries_of(hash);
  if (!refs) {
    return std::move(refs).error();
  }
  bool counted = false;
  for (const auto& ref : *refs) {
    std::lock_guard lock(this->lock(ref.key));
    auto entry = m_index.get_entry(ref.ns, ref.key);
    if (!entry) {
      return std::move(entry).error();
    }
    if (!entry->has_value() || (*entry)->value.hash != hash) {
      INGOT_TRY(m_index.delete_back_reference(hash, ref));
      continue;
    }
    UsageDelta delta;
    entries_field(delta, ref.ns) = -1;
    INGOT_TRY(m_index.delete_entry(ref.ns, ref.key, hash, delta));
    m_usage.apply(delta);
    auto& b = bucket(report, ref.ns);
    ++b.entries;
    if (!counted) {
      b.bytes += bytes;
      counted = true;
    }
  }
  if (!counted) {
    report.cas.bytes += bytes;
  }
  ++report.cas.entries;
  return {};
}

} // namespace ingot::cas
