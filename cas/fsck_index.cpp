// Store::fsck, continued: the tables derived from blob records and entries (pin counts and pin
// sets, last uses, the eviction order, back references) and the usage counters.
//
// A damaged derived record is rebuilt from what it derives from, never the other way round: a
// pin count from the pin sets naming the blob, a place in the eviction order from the blob's
// last use. Pinned data is never dropped: a pin set naming a blob that is gone is reported and
// kept, so that the blob is pinned again when uploaded again.
#include "cas/fsck_run.hpp"
#include "util/hex.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

namespace ingot::cas {

namespace {

std::string signed_text(std::int64_t v) {
  return (v > 0 ? "+" : "") + std::to_string(v);
}

} // namespace

void FsckRun::bad_record(IndexTable table, std::string_view key, const std::string& why) {
  const auto name = std::string(to_string(table));
  found(FsckIssue::bad_record, name + " key " + hex_of(key), why, [&]() -> Result<std::string> {
    INGOT_TRY(m_parts.index.delete_raw(table, key, {}));
    return "dropped unreadable " + name + " record " + hex_of(key);
  });
}

// --- pins ---

Result<void> FsckRun::check_meta(std::string_view key, std::string_view value) {
  // The usage counters are decoded by the walk itself (an unreadable value fails it), pending
  // blob files are settled by every open, and settings and records are opaque values: pin sets
  // are what the meta table holds that fsck can check.
  if (!key.starts_with(k_pin_set_prefix) || value.size() % sizeof(Hash) == 0) {
    return {};
  }
  const std::string name(key.substr(k_pin_set_prefix.size()));
  found(FsckIssue::bad_record, "pin set " + quoted(name),
        std::to_string(value.size()) + " bytes, not a whole number of SHA-256 hashes",
        [&]() -> Result<std::string> {
          // What pin counts were taken for: the whole hashes, as every reader reads the set.
          std::lock_guard lock(m_parts.pins.mutex());
          auto hashes = m_parts.index.get_pin_set(name);
          if (!hashes) {
            return std::move(hashes).error();
          }
          INGOT_TRY(m_parts.index.put_pin_set(name, *hashes));
          return "rewrote pin set " + quoted(name) + " with its " + std::to_string(hashes->size()) +
                 " whole hashes";
        });
  return {};
}

Result<void> FsckRun::check_pin_record(std::string_view key, std::string_view value) {
  if (key.size() != sizeof(Hash)) {
    bad_record(IndexTable::pins, key, "a pin count whose key is not a SHA-256");
    return {};
  }
  Hash hash;
  std::memcpy(hash.data(), key.data(), hash.size());
  std::uint32_t count = 0;
  if (value.size() == sizeof count) {
    std::memcpy(&count, value.data(), sizeof count);
  } else {
    // Read as no pin, as the store reads it; rewritten from the pin sets that name the blob.
    found(FsckIssue::bad_record, to_hex(hash),
          "pin count is " + std::to_string(value.size()) + " bytes, not 4",
          [&]() -> Result<std::string> {
            INGOT_TRY(set_pin_count(hash, std::nullopt));
            return "rewrote the pin count of " + to_hex(hash) + " from the pin sets naming it";
          });
  }
  m_pins[hash] = count;
  return {};
}

// Sets a blob's pin count to the number of pin sets naming it (`want` when the caller counted
// them under the pin lock), with the pinned counters' change, as adjust_pin() does.
Result<void> FsckRun::set_pin_count(const Hash& hash, std::optional<std::uint32_t> want) {
  std::unique_lock pin_lock(m_parts.pins.mutex(), std::defer_lock);
  if (!want) {
    pin_lock.lock();
    auto sets = m_parts.index.list_pin_sets();
    if (!sets) {
      return std::move(sets).error();
    }
    want = 0;
    for (const auto& [name, hashes] : *sets) {
      *want += static_cast<std::uint32_t>(std::count(hashes.begin(), hashes.end(), hash));
    }
  }
  std::lock_guard lock(m_parts.records.lock(hash));
  auto blob = m_parts.index.get_blob(hash, WithData::no);
  if (!blob) {
    return std::move(blob).error();
  }
  auto count = m_parts.index.pin_count(hash);
  if (!count) {
    return std::move(count).error();
  }
  UsageDelta delta;
  if (blob->has_value() && (*count == 0) != (*want == 0)) {
    const auto bytes = static_cast<std::int64_t>((*blob)->record.stored_size);
    delta.pinned_blobs = *want == 0 ? -1 : 1;
    delta.pinned_bytes = *want == 0 ? -bytes : bytes;
  }
  INGOT_TRY(m_parts.index.set_pin_count(hash, *want, delta));
  m_parts.usage.apply(delta);
  return {};
}

// Pin counts against the pin sets, read afresh under the pin lock (pin and unpin hold it).
Result<void> FsckRun::check_pins() {
  std::map<Hash, std::uint32_t> want;
  std::map<Hash, std::uint32_t> have;
  std::vector<std::pair<std::string, Hash>> missing;
  {
    std::lock_guard lock(m_parts.pins.mutex());
    auto sets = m_parts.index.list_pin_sets();
    if (!sets) {
      return std::move(sets).error();
    }
    auto counts = m_parts.index.list_pin_counts();
    if (!counts) {
      return std::move(counts).error();
    }
    for (const auto& [name, hashes] : *sets) {
      for (const Hash& h : std::set<Hash>(hashes.begin(), hashes.end())) {
        ++want[h];
        auto blob = m_parts.index.get_blob(h, WithData::no);
        if (blob && !blob->has_value()) {
          missing.emplace_back(name, h); // an unreadable record is reported from its table
        }
      }
    }
    for (const auto& [h, n] : *counts) {
      have[h] = n;
    }
  }
  for (const auto& [name, h] : missing) {
    // A copy for the lambda: clang before 16 cannot capture a structured binding.
    const std::string hex = to_hex(h);
    found(FsckIssue::missing_pinned, "pin set " + quoted(name),
          "names blob " + hex + ", which is not stored", [&]() -> Result<std::string> {
            return make_error(Errc::not_found,
                              "kept: fsck does not drop pinned data; upload blob " + hex +
                                  " again and it is pinned again");
          });
    m_report.findings.back().blob = h;
    m_report.findings.back().pinned_by = {name};
  }
  std::set<Hash> hashes;
  for (const auto& [h, n] : want) {
    hashes.insert(h);
  }
  for (const auto& [h, n] : have) {
    hashes.insert(h);
  }
  for (const Hash& h : hashes) {
    const std::uint32_t w = want.contains(h) ? want[h] : 0;
    const std::uint32_t n = have.contains(h) ? have[h] : 0;
    if (w == n) {
      continue;
    }
    found(FsckIssue::pin_count, to_hex(h),
          "pinned " + std::to_string(n) + " times, but " + std::to_string(w) + " pin sets name it" +
              (w > n ? ": GC may evict what a pin set keeps" : ""),
          [&]() -> Result<std::string> {
            INGOT_TRY(set_pin_count(h, std::nullopt));
            return "set the pin count of " + to_hex(h) + " from the pin sets naming it";
          });
  }
  return {};
}

// Only when pinned blobs are damaged: one more read of the pin sets, keeping the names of the
// sets that hold those blobs (never a map of every pinned blob).
Result<void> FsckRun::name_pin_sets() {
  std::map<Hash, std::vector<FsckFinding*>> wanted;
  for (auto& f : m_report.findings) {
    if (f.blob && f.pinned_by.empty()) {
      wanted[*f.blob].push_back(&f);
    }
  }
  if (wanted.empty()) {
    return {};
  }
  std::lock_guard lock(m_parts.pins.mutex());
  auto sets = m_parts.index.list_pin_sets();
  if (!sets) {
    return std::move(sets).error();
  }
  for (const auto& [name, hashes] : *sets) {
    for (const Hash& h : std::set<Hash>(hashes.begin(), hashes.end())) {
      if (const auto it = wanted.find(h); it != wanted.end()) {
        for (FsckFinding* f : it->second) {
          f->pinned_by.push_back(name);
        }
      }
    }
  }
  return {};
}

// --- last uses and the eviction order ---

// A stored blob has a last use and, unless pinned, its place in the eviction order at it:
// without them GC never evicts it, and the size bound cannot be kept.
Result<void> FsckRun::check_recency(const Hash& hash, const BlobRecord& record) {
  std::string problem;
  {
    std::lock_guard lock(m_parts.records.lock(hash));
    auto last = m_parts.index.last_use(hash);
    if (!last) {
      if (last.error().code == Errc::corrupt) {
        return {}; // an unreadable last use: reported, and repaired, from its table
      }
      return std::move(last).error();
    }
    auto pins = m_parts.index.pin_count(hash);
    if (!pins) {
      return std::move(pins).error();
    }
    if (!*last) {
      problem = "has no last use: GC can never evict it";
    } else if (*pins == 0) {
      const LruKey key{**last, hash};
      auto order = m_parts.index.lru_scan(key, 1);
      if (!order) {
        return std::move(order).error();
      }
      if (order->empty() || order->front() != key) {
        problem = "is missing from the eviction order: GC can never evict it";
      }
    }
  }
  if (problem.empty()) {
    return {};
  }
  found(FsckIssue::eviction_order, to_hex(hash), problem, [&]() -> Result<std::string> {
    std::lock_guard lock(m_parts.records.lock(hash));
    auto last = m_parts.index.last_use(hash);
    const std::int64_t tick = last && *last ? **last : record.created_unix_s;
    INGOT_TRY(m_parts.index.reset_recency(hash, tick));
    return "put blob " + to_hex(hash) + " back in the eviction order";
  });
  return {};
}

Result<void> FsckRun::check_last_use(std::string_view key, std::string_view value) {
  if (key.size() != sizeof(Hash)) {
    bad_record(IndexTable::atime, key, "a last use whose key is not a SHA-256");
    return {};
  }
  Hash hash;
  std::memcpy(hash.data(), key.data(), hash.size());
  const bool readable = value.size() == sizeof(std::int64_t);
  {
    std::lock_guard lock(m_parts.records.lock(hash));
    auto blob = m_parts.index.get_blob(hash, WithData::no);
    if (!blob) {
      if (blob.error().code == Errc::corrupt) {
        return {}; // an unreadable blob record, reported from its table
      }
      return std::move(blob).error();
    }
    if (readable && blob->has_value()) {
      return {};
    }
    auto still = m_parts.index.has_raw(IndexTable::atime, key);
    if (!still) {
      return std::move(still).error();
    }
    if (!*still) {
      return {}; // removed with its blob since the snapshot
    }
  }
  const auto issue = readable ? FsckIssue::eviction_order : FsckIssue::bad_record;
  const auto problem = readable ? std::string("last use recorded for a blob that is not stored")
                                : "last use is " + std::to_string(value.size()) + " bytes, not 8";
  found(issue, to_hex(hash), problem, [&]() -> Result<std::string> {
    std::lock_guard lock(m_parts.records.lock(hash));
    auto blob = m_parts.index.get_blob(hash, WithData::no);
    if (!blob) {
      return std::move(blob).error();
    }
    if (blob->has_value()) {
      INGOT_TRY(m_parts.index.reset_recency(hash, (*blob)->record.created_unix_s));
      return "recorded blob " + to_hex(hash) + " as last used when it was stored";
    }
    INGOT_TRY(m_parts.index.delete_raw(IndexTable::atime, key, {}));
    return "dropped the last use of blob " + to_hex(hash);
  });
  return {};
}

Result<void> FsckRun::check_lru(std::string_view key) {
  const auto parsed = parse_lru_key(key);
  if (!parsed) {
    bad_record(IndexTable::lru, key, "not a tick and a SHA-256");
    return {};
  }
  const Hash& hash = parsed->hash;
  // Why the entry names no stored, unpinned blob last used at its tick; empty when it does.
  // Under the blob's lock, which every move in the order holds.
  const auto stale = [&]() -> Result<std::string> {
    auto still = m_parts.index.has_raw(IndexTable::lru, key);
    if (!still) {
      return std::move(still).error();
    }
    if (!*still) {
      return std::string(); // moved since the snapshot
    }
    auto blob = m_parts.index.get_blob(hash, WithData::no);
    auto last = m_parts.index.last_use(hash);
    auto pins = m_parts.index.pin_count(hash);
    if (!blob || !last || !pins) {
      return std::string(); // unreadable records are reported from their own tables
    }
    if (!blob->has_value()) {
      return "names blob " + to_hex(hash) + ", which is not stored";
    }
    if (*pins > 0) {
      return "names blob " + to_hex(hash) + ", which is pinned";
    }
    if (!*last || **last != parsed->tick) {
      return "names blob " + to_hex(hash) + " at tick " + std::to_string(parsed->tick) +
             ", but it was last used at " + (*last ? std::to_string(**last) : "no time");
    }
    return std::string();
  };
  std::unique_lock checking(m_parts.records.lock(hash));
  auto why = stale();
  checking.unlock();
  if (!why) {
    return std::move(why).error();
  }
  if (why->empty()) {
    return {};
  }
  found(FsckIssue::eviction_order, "lru key " + hex_of(key), *why, [&]() -> Result<std::string> {
    std::lock_guard lock(m_parts.records.lock(hash));
    auto again = stale();
    if (!again) {
      return std::move(again).error();
    }
    if (again->empty()) {
      return std::string("kept the entry: it is right now");
    }
    INGOT_TRY(m_parts.index.delete_raw(IndexTable::lru, key, {}));
    return "dropped the stale entry of blob " + to_hex(hash) + " from the eviction order";
  });
  return {};
}

// Back references may outlive the entry they were written for (eviction checks each one and
// drops those), so only one that cannot be read is damage.
Result<void> FsckRun::check_back_reference(std::string_view key) {
  if (!parse_back_reference_key(key)) {
    bad_record(IndexTable::backrefs, key, "not a SHA-256, a namespace and a key");
  }
  return {};
}

// --- usage counters ---

// `recorded` and m_counted come from one snapshot, so they differ only if the counters are
// wrong (or an unreadable record added what cannot be recounted). Each counter that differs
// is one finding, corrected by a delta, which adds up with whatever other commits do meanwhile.
void FsckRun::check_usage(const UsageDelta& recorded) {
  for (const UsageField& field : k_usage_fields) {
    switch (field.recount) {
    case Recount::no:
      continue;
    case Recount::yes:
      break;
    }
    const std::int64_t was = recorded.*field.member;
    const std::int64_t is = m_counted.*field.member;
    if (was == is) {
      continue;
    }
    const std::string name(field.name);
    found(FsckIssue::usage_mismatch, "usage counter '" + name + "'",
          "recorded " + std::to_string(was) + ", but the records add up to " + std::to_string(is),
          [&]() -> Result<std::string> {
            UsageDelta fix;
            fix.*field.member = is - was;
            INGOT_TRY(m_parts.index.add_usage(fix));
            m_parts.usage.apply(fix);
            return "corrected the usage counter '" + name + "' by " + signed_text(is - was);
          });
  }
}

} // namespace ingot::cas
