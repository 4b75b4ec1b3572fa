// Store::fsck: each kind of damage made for real (files flipped, truncated, deleted or dropped
// in; index values overwritten through RocksDB itself), found without --repair, fixed with
// it, and gone on a second run, with the good blobs still reading back.
#include "cas/index.hpp"
#include "cas/record.hpp"
#include "cas/store.hpp"
#include "support/files.hpp"
#include "support/printers.hpp"
#include "support/result_assertions.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"
#include "support/test_data.hpp"
#include "util/bytes.hpp"
#include "util/hex.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/merge_operator.h>

namespace ingot::cas {
namespace {

namespace fs = std::filesystem;
using test::blob_files_of;
using test::compressible_text;
using test::expect_same_usage;
using test::fails_with;
using test::ok;
using test::random_bytes;
using test::read_file;
using test::TempDir;
using test::tmp_files;

constexpr std::uint64_t k_threshold = 4096;

void write_file(const fs::path& path, const std::string& bytes) {
  // Blob files may be made read-only; bit rot does not ask for permission.
  if (fs::exists(path)) {
    fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void flip_byte(const fs::path& path, std::size_t at) {
  std::string bytes = read_file(path);
  ASSERT_LT(at, bytes.size());
  bytes[at] = static_cast<char>(bytes[at] ^ 0x20);
  write_file(path, bytes);
}

std::string key_of(const Hash& hash) {
  return std::string(as_chars(hash));
}

// The index's merge operator for the usage counters, so that opening the index here (to
// damage it) can flush what the store left in its write-ahead log.
class UsageSum final : public rocksdb::AssociativeMergeOperator {
public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    UsageDelta sum;
    if (existing != nullptr) {
      auto e = decode_usage(existing->ToStringView());
      if (!e) {
        return false;
      }
      sum = *e;
    }
    auto d = decode_usage(value.ToStringView());
    if (!d) {
      return false;
    }
    *new_value = encode_usage(add(sum, *d));
    return true;
  }
  const char* Name() const override { return "IngotUsageMerge"; }
};

// The index opened with RocksDB directly, to write what the store itself never would.
class RawIndex {
public:
  explicit RawIndex(const fs::path& dir) {
    std::vector<std::string> names;
    auto s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.string(), &names);
    EXPECT_TRUE(s.ok()) << s.ToString();
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& name : names) {
      rocksdb::ColumnFamilyOptions options;
      if (name == "meta") {
        options.merge_operator = std::make_shared<UsageSum>();
      }
      descriptors.emplace_back(name, options);
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    s = rocksdb::DB::Open(rocksdb::DBOptions(), dir.string(), descriptors, &handles, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    m_db.reset(db);
    for (std::size_t i = 0; i < handles.size(); ++i) {
      m_handles[names[i]] = handles[i];
    }
  }

  ~RawIndex() {
    for (auto& [name, handle] : m_handles) {
      m_db->DestroyColumnFamilyHandle(handle);
    }
    if (m_db) {
      m_db->Close();
    }
  }

  RawIndex(const RawIndex&) = delete;
  RawIndex& operator=(const RawIndex&) = delete;

  void put(const std::string& table, std::string_view key, std::string_view value) {
    ASSERT_TRUE(m_db);
    const auto s = m_db->Put(rocksdb::WriteOptions(), m_handles.at(table), key, value);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::string get(const std::string& table, std::string_view key) {
    std::string value;
    const auto s = m_db->Get(rocksdb::ReadOptions(), m_handles.at(table), key, &value);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return value;
  }

  // Forgets every back reference from blobs to the entries naming them, as in a data dir
  // written before they existed: removing a blob then leaves its entries dangling.
  void drop_back_references() {
    std::unique_ptr<rocksdb::Iterator> it(
        m_db->NewIterator(rocksdb::ReadOptions(), m_handles.at("backrefs")));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ASSERT_TRUE(m_db->Delete(rocksdb::WriteOptions(), m_handles.at("backrefs"), it->key()).ok());
    }
  }

  void erase(const std::string& table, std::string_view key) {
    const auto s = m_db->Delete(rocksdb::WriteOptions(), m_handles.at(table), key);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::vector<std::string> keys(const std::string& table) {
    std::vector<std::string> out;
    std::unique_ptr<rocksdb::Iterator> it(
        m_db->NewIterator(rocksdb::ReadOptions(), m_handles.at(table)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      out.push_back(it->key().ToString());
    }
    return out;
  }

  // Adds to the usage counters without any record behind it: drift.
  void add_usage(const UsageDelta& delta) {
    const auto s =
        m_db->Merge(rocksdb::WriteOptions(), m_handles.at("meta"), "usage", encode_usage(delta));
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

private:
  std::unique_ptr<rocksdb::DB> m_db;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> m_handles;
};

class FsckTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_options.dir = m_tmp.path() / "data";
    m_options.inline_threshold = k_threshold;
    ASSERT_NO_FATAL_FAILURE(open_store());
  }

  void open_store() {
    auto store = Store::open(m_options);
    ASSERT_TRUE(store) << store.error().message;
    m_store = std::move(*store);
  }

  // Closes the store, lets `edit` write to its index directly, and opens it again.
  void damage_index(const std::function<void(RawIndex&)>& edit) {
    m_store.reset();
    {
      RawIndex raw(m_options.dir / "index");
      edit(raw);
    }
    ASSERT_NO_FATAL_FAILURE(open_store());
  }

  Store& store() { return *m_store; }
  const fs::path& dir() const { return m_options.dir; }

  Digest must_put(std::string_view data) { return test::must_put(*m_store, data); }

  fs::path file_of(const Digest& d) {
    const auto files = blob_files_of(dir(), d);
    EXPECT_EQ(files.size(), 1U) << "files under blobs/ named " << d.hex();
    return files.empty() ? fs::path{} : files.front();
  }

  // Blobs of each kind the store keeps (inline or file, raw or zstd) that damage elsewhere
  // must leave alone.
  std::vector<Digest> put_good_blobs() {
    return {must_put(random_bytes(100, 1)), must_put(compressible_text(3000, 2)),
            must_put(random_bytes(100'000, 3)), must_put(compressible_text(200'000, 4))};
  }

  void expect_readable(const std::vector<Digest>& blobs) {
    for (const Digest& d : blobs) {
      const auto got = test::read_and_hash(store(), d.hash);
      ASSERT_TRUE(got) << d.to_string() << ": " << got.error().message;
      EXPECT_EQ(*got, d);
      EXPECT_TRUE(ok(store().verify(d.hash))) << d.to_string();
    }
  }

  FsckReport must_fsck(Repair repair) {
    auto report = m_store->fsck(repair);
    EXPECT_TRUE(report) << report.error().message;
    return report ? std::move(*report) : FsckReport{};
  }

  void expect_clean() {
    const auto report = must_fsck(Repair::no);
    for (const auto& f : report.findings) {
      ADD_FAILURE() << "unexpected finding " << to_string(f.issue) << " " << f.subject << ": "
                    << f.detail;
    }
    EXPECT_EQ(report.unrepaired(), 0U);
    const Usage usage = store().usage();
    EXPECT_EQ(report.blobs_checked, usage.blobs);
    EXPECT_EQ(report.stored_bytes_checked, usage.stored_bytes);
    EXPECT_EQ(report.entries_checked, usage.ac_entries + usage.kv_entries + usage.ref_entries);
  }

  TempDir m_tmp;
  StoreOptions m_options;
  std::unique_ptr<Store> m_store;
};

std::vector<FsckFinding> of_kind(const FsckReport& report, FsckIssue issue) {
  std::vector<FsckFinding> out;
  std::copy_if(report.findings.begin(), report.findings.end(), std::back_inserter(out),
               [&](const FsckFinding& f) { return f.issue == issue; });
  return out;
}

std::string describe(const FsckReport& report) {
  std::string out;
  for (const auto& f : report.findings) {
    out += "\n  " + std::string(to_string(f.issue)) + " " + f.subject + ": " + f.detail +
           (f.action.empty() ? "" : " -> " + f.action);
  }
  return out;
}

// The one finding of a report, which must have exactly one.
FsckFinding only_finding(const FsckReport& report) {
  EXPECT_EQ(report.findings.size(), 1U) << describe(report);
  return report.findings.empty() ? FsckFinding{} : report.findings.front();
}

TEST_F(FsckTest, CleanStoreHasNoFindings) {
  const auto blobs = put_good_blobs();
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "ccache/ab/cd", blobs[0])));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, std::string(64, 'a'), blobs[2])));
  expect_clean();
  const auto report = must_fsck(Repair::yes);
  EXPECT_TRUE(report.findings.empty());
  EXPECT_EQ(report.entries_checked, 2U);
  EXPECT_EQ(report.files_checked, 2U); // the two blobs above the inline threshold
  expect_readable(blobs);
}

TEST_F(FsckTest, FlippedByteIsACorruptBlobThatRepairDrops) {
  const auto good = put_good_blobs();
  const Digest victim = must_put(random_bytes(50'000, 10));
  const fs::path file = file_of(victim);
  ASSERT_NO_FATAL_FAILURE(flip_byte(file, 1234));
  const Usage before = store().usage();

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::corrupt_blob);
  EXPECT_EQ(found.subject, victim.hex());
  EXPECT_FALSE(found.repaired);
  EXPECT_TRUE(found.action.empty());
  EXPECT_TRUE(fs::exists(file)) << "fsck without repair changed the data dir";
  expect_same_usage(store().usage(), before);

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_EQ(fixed.issue, FsckIssue::corrupt_blob);
  EXPECT_TRUE(fixed.repaired);
  EXPECT_EQ(fixed.action, "dropped corrupt blob " + victim.hex() + " (checksum mismatch)");
  EXPECT_FALSE(store().contains(victim.hash));
  EXPECT_FALSE(fs::exists(file));
  EXPECT_EQ(store().usage().blobs, before.blobs - 1);
  EXPECT_EQ(store().usage().logical_bytes, before.logical_bytes - victim.size);

  expect_clean();
  expect_readable(good);
  // The cache heals when a client uploads the blob again.
  must_put(random_bytes(50'000, 10));
  expect_readable({victim});
}

TEST_F(FsckTest, TruncatedZstdFileIsCorrupt) {
  const auto good = put_good_blobs();
  const Digest victim = must_put(compressible_text(300'000, 11));
  const auto info = store().stat(victim.hash);
  ASSERT_TRUE(info && info->codec == Codec::zstd);
  const fs::path file = file_of(victim);
  fs::resize_file(file, fs::file_size(file) / 2);

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::corrupt_blob);
  EXPECT_EQ(found.subject, victim.hex());

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired);
  EXPECT_FALSE(store().contains(victim.hash));
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, DeletedFileIsMissingAndRepairDropsTheRecord) {
  const auto good = put_good_blobs();
  const Digest victim = must_put(random_bytes(60'000, 12));
  fs::remove(file_of(victim));
  const Usage before = store().usage();

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::missing_file);
  EXPECT_EQ(found.subject, victim.hex());
  EXPECT_NE(found.detail.find("blobs/" + victim.hex().substr(0, 2) + "/" + victim.hex()),
            std::string::npos)
      << found.detail;
  EXPECT_TRUE(store().contains(victim.hash));

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired);
  EXPECT_EQ(fixed.action, "dropped blob " + victim.hex() + " (its file is gone)");
  EXPECT_FALSE(store().contains(victim.hash));
  EXPECT_EQ(store().usage().stored_bytes, before.stored_bytes - victim.size);
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, CorruptInlineBlobIsDropped) {
  const auto good = put_good_blobs();
  const Digest victim = must_put(random_bytes(500, 13));
  damage_index([&](RawIndex& raw) {
    std::string_view data;
    const std::string value = raw.get("blobs", key_of(victim.hash));
    auto record = decode_blob_value(value, &data);
    ASSERT_TRUE(record && record->is_inline);
    std::string rotten(data);
    rotten[7] = static_cast<char>(rotten[7] ^ 1);
    raw.put("blobs", key_of(victim.hash), encode_blob_value(*record, as_bytes(rotten)));
  });
  ASSERT_TRUE(fails_with(store().verify(victim.hash), Errc::corrupt));

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::corrupt_blob);
  EXPECT_NE(found.detail.find("inline"), std::string::npos) << found.detail;

  EXPECT_TRUE(only_finding(must_fsck(Repair::yes)).repaired);
  EXPECT_FALSE(store().contains(victim.hash));
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, StrayFilesUnderBlobsAreOrphansThatRepairRemoves) {
  const auto good = put_good_blobs();
  const Digest inline_blob = good[0];
  const Digest unrecorded = digest_of(random_bytes(40'000, 14));
  const auto hex = unrecorded.hex();
  const std::string other_shard = good[2].hex().substr(0, 2) == "00" ? "01" : "00";
  const std::map<std::string, std::string> strays{
      {"blobs/" + hex.substr(0, 2) + "/" + hex, "no blob record names it"},
      {"blobs/" + other_shard + "/" + good[2].hex(), "wrong shard"},
      {"blobs/" + hex.substr(0, 2) + "/" + hex + ".partial", "SHA-256"},
      {"blobs/" + hex.substr(0, 2) + "/" + std::string(64, 'A'), "SHA-256"},
      {"blobs/" + inline_blob.hex().substr(0, 2) + "/" + inline_blob.hex(), "inline"},
      {"blobs/notes.txt", "outside the shard"},
      {"blobs/zz", "not a shard"},
  };
  for (const auto& [path, why] : strays) {
    if (path == "blobs/zz") {
      fs::create_directories(dir() / path / "deeper");
      write_file(dir() / path / "deeper" / "file", "x");
    } else {
      write_file(dir() / path, random_bytes(100, 15));
    }
  }

  const auto found = must_fsck(Repair::no);
  EXPECT_EQ(found.findings.size(), strays.size()) << describe(found);
  for (const auto& f : found.findings) {
    EXPECT_EQ(f.issue, FsckIssue::orphan_file) << f.subject;
    const auto stray = strays.find(f.subject);
    ASSERT_NE(stray, strays.end()) << "unexpected finding for " << f.subject;
    EXPECT_NE(f.detail.find(stray->second), std::string::npos) << f.subject << ": " << f.detail;
    EXPECT_FALSE(f.repaired);
    EXPECT_TRUE(fs::exists(dir() / f.subject)) << "fsck without repair removed " << f.subject;
  }

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.findings.size(), strays.size());
  for (const auto& f : fixed.findings) {
    EXPECT_TRUE(f.repaired) << f.subject << ": " << f.action;
    EXPECT_TRUE(f.action == "removed orphan file " + f.subject ||
                f.action == "removed stray file " + f.subject ||
                f.action == "removed stray directory " + f.subject)
        << f.action;
    EXPECT_FALSE(fs::exists(dir() / f.subject)) << f.subject;
  }
  expect_clean();
  expect_readable(good);
  EXPECT_TRUE(fs::exists(file_of(good[2]))) << "the real file of a blob went with a stray copy";
}

TEST_F(FsckTest, StrayFileInTmpIsALeftoverThatRepairRemoves) {
  const auto good = put_good_blobs();
  write_file(dir() / "tmp" / "upload-from-a-dead-process", "half a blob");

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::temp_file);
  EXPECT_EQ(found.subject, "tmp/upload-from-a-dead-process");
  EXPECT_FALSE(found.repaired);
  EXPECT_FALSE(tmp_files(dir()).empty());

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired);
  EXPECT_EQ(fixed.action, "removed leftover temp file tmp/upload-from-a-dead-process");
  EXPECT_TRUE(tmp_files(dir()).empty());
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, TempFilesRemovedWhenOpeningAreReportedAsRepaired) {
  m_store.reset();
  write_file(dir() / "tmp" / "12345-0-42", "an interrupted write");
  ASSERT_NO_FATAL_FAILURE(open_store());

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::temp_file);
  EXPECT_EQ(found.subject, "tmp/12345-0-42");
  EXPECT_TRUE(found.repaired);
  EXPECT_NE(found.action.find("when the data dir was opened"), std::string::npos) << found.action;
  EXPECT_TRUE(tmp_files(dir()).empty());
}

TEST_F(FsckTest, RepairLeavesAWriteInFlightAlone) {
  const std::string data = random_bytes(300'000, 16);
  auto writer = store().begin_write();
  ASSERT_TRUE(writer) << writer.error().message;
  ASSERT_TRUE(ok((*writer)->append(as_bytes(std::string_view(data).substr(0, 200'000)))));
  ASSERT_FALSE(tmp_files(dir()).empty()) << "the write has no temp file to protect yet";

  const auto report = must_fsck(Repair::yes);
  EXPECT_TRUE(report.findings.empty()) << describe(report);
  EXPECT_FALSE(tmp_files(dir()).empty());

  ASSERT_TRUE(ok((*writer)->append(as_bytes(std::string_view(data).substr(200'000)))));
  const auto committed = (*writer)->commit();
  ASSERT_TRUE(committed) << committed.error().message;
  expect_readable({*committed});
  expect_clean();
}

TEST_F(FsckTest, EntryWhoseValueBlobIsGoneIsDropped) {
  const auto good = put_good_blobs();
  const Digest value = must_put(random_bytes(20'000, 17));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "ccache/ab/cdef", value)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "kept", good[1])));
  damage_index([](RawIndex& raw) { raw.drop_back_references(); });
  ASSERT_TRUE(ok(store().remove(value.hash)));
  const Usage before = store().usage();

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::dangling_entry);
  EXPECT_EQ(found.subject, "kv 'ccache/ab/cdef'");
  EXPECT_EQ(found.detail, "value blob " + value.hex() + " is gone");
  EXPECT_EQ(store().usage().kv_entries, before.kv_entries);

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired);
  EXPECT_EQ(fixed.action,
            "dropped kv entry 'ccache/ab/cdef' (value blob " + value.hex() + " is gone)");
  EXPECT_EQ(store().usage().kv_entries, before.kv_entries - 1);
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "ccache/ab/cdef"), Errc::not_found));
  EXPECT_TRUE(ok(store().ns_get(Namespace::kv, "kept")));
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, EntryNamingACorruptBlobGoesWithIt) {
  const auto good = put_good_blobs();
  const Digest value = must_put(random_bytes(30'000, 18));
  const std::string key(64, 'e');
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, key, value)));
  ASSERT_NO_FATAL_FAILURE(flip_byte(file_of(value), 10));

  const auto found = must_fsck(Repair::no);
  ASSERT_EQ(found.findings.size(), 2U);
  EXPECT_EQ(of_kind(found, FsckIssue::corrupt_blob).size(), 1U);
  const auto dangling = of_kind(found, FsckIssue::dangling_entry);
  ASSERT_EQ(dangling.size(), 1U);
  EXPECT_EQ(dangling[0].subject, "ac '" + key + "'");
  EXPECT_EQ(dangling[0].detail, "value blob " + value.hex() + " is corrupt");

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.findings.size(), 2U);
  EXPECT_EQ(fixed.unrepaired(), 0U);
  const auto dropped = of_kind(fixed, FsckIssue::dangling_entry);
  ASSERT_EQ(dropped.size(), 1U);
  EXPECT_EQ(dropped[0].action, "dropped ac entry '" + key + "' along with its value blob");
  EXPECT_EQ(store().usage().ac_entries, 0U);
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, UnreadableBlobRecordIsDroppedWithItsFileAndUsageIsCorrected) {
  const auto good = put_good_blobs();
  const Usage without = store().usage();
  const Digest victim = must_put(random_bytes(70'000, 19));
  const fs::path file = file_of(victim);
  damage_index([&](RawIndex& raw) { raw.put("blobs", key_of(victim.hash), "\x09garbage"); });
  EXPECT_TRUE(fails_with(store().stat(victim.hash), Errc::corrupt));

  const auto found = must_fsck(Repair::no);
  ASSERT_EQ(of_kind(found, FsckIssue::bad_blob_record).size(), 1U);
  EXPECT_EQ(of_kind(found, FsckIssue::bad_blob_record)[0].subject, victim.hex());
  // Its share of the counters cannot be recounted from a record that does not decode: one
  // finding per counter it added to.
  const auto counters = of_kind(found, FsckIssue::usage_mismatch);
  ASSERT_EQ(counters.size(), 4U) << describe(found);
  EXPECT_EQ(counters[0].subject, "usage counter 'blobs'");
  EXPECT_EQ(counters[0].detail, "recorded " + std::to_string(without.blobs + 1) +
                                    ", but the records add up to " + std::to_string(without.blobs));
  EXPECT_EQ(found.findings.size(), 5U);
  EXPECT_TRUE(fs::exists(file)) << "a file with an (unreadable) record is not an orphan";

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.unrepaired(), 0U);
  const auto dropped = of_kind(fixed, FsckIssue::bad_blob_record);
  ASSERT_EQ(dropped.size(), 1U);
  EXPECT_EQ(dropped[0].action, "dropped unreadable blob record " + victim.hex() + " and its file " +
                                   file.lexically_relative(dir()).string());
  EXPECT_FALSE(fs::exists(file));
  EXPECT_FALSE(store().contains(victim.hash));
  expect_same_usage(store().usage(), without);

  // The correction is persisted, not only applied in memory.
  m_store.reset();
  ASSERT_NO_FATAL_FAILURE(open_store());
  expect_same_usage(store().usage(), without);
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, BlobRecordWithABadKeyIsDropped) {
  const auto good = put_good_blobs();
  damage_index(
      [&](RawIndex& raw) { raw.put("blobs", "short", encode_blob_value(BlobRecord{}, {})); });
  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::bad_blob_record);
  EXPECT_EQ(found.subject, "key 73686f7274"); // "short"
  EXPECT_TRUE(only_finding(must_fsck(Repair::yes)).repaired);
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, UnreadableEntryIsDropped) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "broken", good[0])));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "fine", good[0])));
  damage_index([&](RawIndex& raw) { raw.put("kv", "broken", "\x01too short"); });
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "broken"), Errc::corrupt));

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::bad_entry);
  EXPECT_EQ(found.subject, "kv 'broken'");

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired);
  EXPECT_EQ(fixed.action, "dropped kv entry 'broken' (its value cannot be decoded)");
  EXPECT_EQ(store().usage().kv_entries, 1U);
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "broken"), Errc::not_found));
  EXPECT_TRUE(ok(store().ns_get(Namespace::kv, "fine")));
  expect_clean();
}

TEST_F(FsckTest, EntryNamingTheWrongSizeIsDropped) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, std::string(64, 'b'), good[2])));
  damage_index([&](RawIndex& raw) {
    const Entry wrong{Digest{good[2].hash, good[2].size + 1}, 1};
    raw.put("ac", std::string(64, 'b'), encode_entry(wrong));
  });
  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::bad_entry);
  EXPECT_TRUE(only_finding(must_fsck(Repair::yes)).repaired);
  EXPECT_EQ(store().usage().ac_entries, 0U);
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, UsageCountersThatDriftedAreCorrected) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "k", good[0])));
  const Usage right = store().usage();
  damage_index([&](RawIndex& raw) {
    UsageDelta drift;
    drift.blobs = 3;
    drift.stored_bytes = -1000;
    drift.kv_entries = 2;
    raw.add_usage(drift);
  });
  EXPECT_EQ(store().usage().blobs, right.blobs + 3);

  const auto found = must_fsck(Repair::no);
  EXPECT_EQ(of_kind(found, FsckIssue::usage_mismatch).size(), 3U) << describe(found);
  EXPECT_EQ(found.findings.size(), 3U) << describe(found);
  EXPECT_EQ(store().usage().blobs, right.blobs + 3);

  const auto fixed = must_fsck(Repair::yes);
  ASSERT_EQ(fixed.findings.size(), 3U) << describe(fixed);
  EXPECT_EQ(fixed.unrepaired(), 0U);
  EXPECT_EQ(fixed.findings[0].action, "corrected the usage counter 'blobs' by -3");
  EXPECT_EQ(fixed.findings[1].action, "corrected the usage counter 'stored bytes' by +1000");
  EXPECT_EQ(fixed.findings[2].action, "corrected the usage counter 'kv entries' by -2");
  expect_same_usage(store().usage(), right);
  m_store.reset();
  ASSERT_NO_FATAL_FAILURE(open_store());
  expect_same_usage(store().usage(), right);
  expect_clean();
}

TEST_F(FsckTest, UnreadableEmptyBlobRecordIsWrittenAgain) {
  damage_index([&](RawIndex& raw) { raw.put("blobs", key_of(empty_digest().hash), "?"); });
  const auto found = must_fsck(Repair::no);
  EXPECT_EQ(of_kind(found, FsckIssue::bad_blob_record).size(), 1U);

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.unrepaired(), 0U);
  EXPECT_TRUE(store().contains(empty_digest().hash));
  expect_readable({empty_digest()});
  expect_clean();
  EXPECT_EQ(store().usage().blobs, 1U);
}

// Every kind at once, as an admin meets them: nothing changes without --repair, everything is
// fixed with it, and the good data is untouched.
TEST_F(FsckTest, EveryKindOfDamageAtOnce) {
  const auto good = put_good_blobs();
  const Digest rotten = must_put(random_bytes(40'000, 20));
  const Digest lost = must_put(random_bytes(41'000, 21));
  const Digest dropped = must_put(random_bytes(42'000, 22));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "a", dropped)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "b", good[3])));
  damage_index([](RawIndex& raw) { raw.drop_back_references(); });
  ASSERT_TRUE(ok(store().remove(dropped.hash)));
  ASSERT_NO_FATAL_FAILURE(flip_byte(file_of(rotten), 0));
  fs::remove(file_of(lost));
  const auto orphan = digest_of(random_bytes(43'000, 23)).hex();
  write_file(dir() / "blobs" / orphan.substr(0, 2) / orphan, "not even the right bytes");
  write_file(dir() / "tmp" / "stray", "x");
  const auto files_before = test::files_under(dir() / "blobs").size();

  const auto found = must_fsck(Repair::no);
  EXPECT_EQ(of_kind(found, FsckIssue::corrupt_blob).size(), 1U);
  EXPECT_EQ(of_kind(found, FsckIssue::missing_file).size(), 1U);
  EXPECT_EQ(of_kind(found, FsckIssue::dangling_entry).size(), 1U);
  EXPECT_EQ(of_kind(found, FsckIssue::orphan_file).size(), 1U);
  EXPECT_EQ(of_kind(found, FsckIssue::temp_file).size(), 1U);
  EXPECT_EQ(found.findings.size(), 5U);
  EXPECT_EQ(found.unrepaired(), 5U);
  EXPECT_EQ(test::files_under(dir() / "blobs").size(), files_before);

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.findings.size(), 5U);
  EXPECT_EQ(fixed.unrepaired(), 0U);
  for (const auto& f : fixed.findings) {
    EXPECT_FALSE(f.action.empty()) << f.subject;
  }
  expect_clean();
  expect_readable(good);
  EXPECT_TRUE(ok(store().ns_get(Namespace::kv, "b")));
  EXPECT_EQ(store().usage().kv_entries, 1U);
}

// --- refs ---

TEST_F(FsckTest, RefWhoseValueBlobIsGoneIsDropped) {
  const auto good = put_good_blobs();
  const Digest tree = must_put(random_bytes(20'000, 30));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ref, "nightly", tree)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ref, "stable", good[1])));
  damage_index([](RawIndex& raw) { raw.drop_back_references(); });
  ASSERT_TRUE(ok(store().remove(tree.hash)));
  const Usage before = store().usage();
  ASSERT_EQ(before.ref_entries, 2U);

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::dangling_entry);
  EXPECT_EQ(found.subject, "ref 'nightly'");
  EXPECT_EQ(found.detail, "value blob " + tree.hex() + " is gone");

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired) << fixed.action;
  EXPECT_EQ(fixed.action, "dropped ref entry 'nightly' (value blob " + tree.hex() + " is gone)");
  EXPECT_EQ(store().usage().ref_entries, 1U);
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::ref, "nightly"), Errc::not_found));
  EXPECT_TRUE(ok(store().ns_get(Namespace::ref, "stable")));
  expect_clean();
}

TEST_F(FsckTest, UnreadableRefIsDropped) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().ns_put(Namespace::ref, "broken", good[0])));
  damage_index([&](RawIndex& raw) { raw.put("ref", "broken", "\x01short"); });

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::bad_entry);
  EXPECT_EQ(found.subject, "ref 'broken'");

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired) << fixed.action;
  EXPECT_EQ(fixed.action, "dropped ref entry 'broken' (its value cannot be decoded)");
  EXPECT_EQ(store().usage().ref_entries, 0U);
  expect_clean();
}

// A pinned ref keeps what someone chose to keep: fsck reports its damage and leaves it, and
// the ref and its pins serve again once the blob is uploaded again.
TEST_F(FsckTest, PinnedRefWhoseTreeIsGoneIsReportedAndKept) {
  const auto good = put_good_blobs();
  const std::string bytes = random_bytes(25'000, 31);
  const Digest tree = must_put(bytes);
  ASSERT_TRUE(ok(store().pin(ref_pin_name("rc"), {tree.hash, good[2].hash})));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ref, "rc", tree)));
  damage_index([](RawIndex& raw) { raw.drop_back_references(); });
  ASSERT_TRUE(ok(store().remove(tree.hash))); // purged, as an admin may

  const auto found = must_fsck(Repair::no);
  ASSERT_EQ(found.findings.size(), 2U) << describe(found);
  ASSERT_EQ(of_kind(found, FsckIssue::dangling_entry).size(), 1U);
  EXPECT_EQ(of_kind(found, FsckIssue::dangling_entry)[0].subject, "ref 'rc'");
  const auto missing = of_kind(found, FsckIssue::missing_pinned);
  ASSERT_EQ(missing.size(), 1U);
  EXPECT_EQ(missing[0].subject, "pin set 'ref/rc'");
  EXPECT_EQ(missing[0].detail, "names blob " + tree.hex() + ", which is not stored");

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.unrepaired(), 2U) << describe(fixed);
  for (const auto& f : fixed.findings) {
    EXPECT_NE(f.action.find("not repaired: kept"), std::string::npos) << f.action;
  }
  const auto pinned = store().is_pinned(ref_pin_name("rc"));
  ASSERT_TRUE(pinned);
  EXPECT_TRUE(*pinned);
  EXPECT_EQ(store().usage().ref_entries, 1U);

  must_put(bytes);
  expect_clean();
  EXPECT_TRUE(ok(store().ns_get(Namespace::ref, "rc")));
  EXPECT_EQ(store().usage().pinned_blobs, 2U);
}

// --- pins ---

std::string pin_count_value(std::uint32_t count) {
  std::string out(sizeof count, '\0');
  std::memcpy(out.data(), &count, sizeof count);
  return out;
}

TEST_F(FsckTest, PinCountBelowItsPinSetsIsRaised) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().pin("release/app/1.0", {good[2].hash, good[3].hash})));
  const Usage right = store().usage();
  damage_index([&](RawIndex& raw) { raw.erase("pins", key_of(good[2].hash)); });

  const auto found = must_fsck(Repair::no);
  const auto pins = of_kind(found, FsckIssue::pin_count);
  ASSERT_EQ(pins.size(), 1U) << describe(found);
  EXPECT_EQ(pins[0].subject, good[2].hex());
  EXPECT_EQ(pins[0].detail, "pinned 0 times, but 1 pin sets name it: GC may evict what a pin "
                            "set keeps");

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.unrepaired(), 0U) << describe(fixed);
  expect_same_usage(store().usage(), right);
  expect_clean();
  // The pin holds again: GC down to nothing keeps both pinned blobs.
  ASSERT_TRUE(store().gc(GcOptions{0, DryRun::no}));
  expect_readable({good[2], good[3]});
}

TEST_F(FsckTest, PinCountAboveItsPinSetsIsLowered) {
  const auto good = put_good_blobs();
  const Usage right = store().usage();
  damage_index([&](RawIndex& raw) { raw.put("pins", key_of(good[3].hash), pin_count_value(2)); });
  EXPECT_EQ(store().usage().pinned_blobs, 0U);

  const auto found = must_fsck(Repair::no);
  const auto pins = of_kind(found, FsckIssue::pin_count);
  ASSERT_EQ(pins.size(), 1U) << describe(found);
  EXPECT_EQ(pins[0].detail, "pinned 2 times, but 0 pin sets name it");

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.unrepaired(), 0U) << describe(fixed);
  expect_same_usage(store().usage(), right);
  expect_clean();
  // Unpinned again, it is evictable again.
  ASSERT_TRUE(store().gc(GcOptions{0, DryRun::no}));
  EXPECT_FALSE(store().contains(good[3].hash));
}

TEST_F(FsckTest, UnreadablePinCountIsRewrittenFromThePinSets) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().pin("release/app/2.0", {good[1].hash})));
  const Usage right = store().usage();
  damage_index([&](RawIndex& raw) { raw.put("pins", key_of(good[1].hash), "xyz"); });

  const auto found = must_fsck(Repair::no);
  const auto bad = of_kind(found, FsckIssue::bad_record);
  ASSERT_EQ(bad.size(), 1U) << describe(found);
  EXPECT_EQ(bad[0].subject, good[1].hex());
  EXPECT_EQ(bad[0].detail, "pin count is 3 bytes, not 4");

  EXPECT_EQ(must_fsck(Repair::yes).unrepaired(), 0U);
  expect_same_usage(store().usage(), right);
  expect_clean();
}

TEST_F(FsckTest, PinSetThatIsNotWholeHashesIsRewritten) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().pin("release/app/3.0", {good[0].hash})));
  damage_index([&](RawIndex& raw) {
    raw.put("meta", "pinset/release/app/3.0", key_of(good[0].hash) + "extra");
  });

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::bad_record);
  EXPECT_EQ(found.subject, "pin set 'release/app/3.0'");

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_EQ(fixed.action, "rewrote pin set 'release/app/3.0' with its 1 whole hashes");
  expect_clean();
  EXPECT_EQ(store().usage().pinned_blobs, 1U);
}

TEST_F(FsckTest, ReleaseBlobThatIsGoneIsReportedAndNeverDropped) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().pin("release/app/4.0", {good[2].hash, good[3].hash})));
  ASSERT_TRUE(ok(store().remove(good[3].hash)));

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::missing_pinned);
  EXPECT_EQ(found.subject, "pin set 'release/app/4.0'");

  const auto kept = only_finding(must_fsck(Repair::yes));
  EXPECT_FALSE(kept.repaired);
  EXPECT_EQ(kept.action, "not repaired: kept: fsck does not drop pinned data; upload blob " +
                             good[3].hex() + " again and it is pinned again");
  const auto pinned = store().is_pinned("release/app/4.0");
  ASSERT_TRUE(pinned);
  EXPECT_TRUE(*pinned);

  must_put(compressible_text(200'000, 4));
  expect_clean();
  EXPECT_EQ(store().usage().pinned_blobs, 2U);
}

TEST_F(FsckTest, PinnedAndRefCountersThatDriftedAreCorrected) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().pin("release/app/5.0", {good[2].hash})));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ref, "main", good[0])));
  const Usage right = store().usage();
  ASSERT_GT(right.pinned_bytes, 0U);
  damage_index([&](RawIndex& raw) {
    UsageDelta drift;
    drift.pinned_blobs = 1;
    drift.pinned_bytes = -5000;
    drift.ref_entries = 4;
    raw.add_usage(drift);
  });

  const auto found = must_fsck(Repair::no);
  ASSERT_EQ(found.findings.size(), 3U) << describe(found);
  std::vector<std::string> subjects;
  for (const auto& f : found.findings) {
    EXPECT_EQ(f.issue, FsckIssue::usage_mismatch);
    subjects.push_back(f.subject);
  }
  EXPECT_EQ(subjects, (std::vector<std::string>{"usage counter 'pinned blobs'",
                                                "usage counter 'pinned bytes'",
                                                "usage counter 'ref entries'"}));
  EXPECT_EQ(found.findings[1].detail, "recorded " + std::to_string(right.pinned_bytes - 5000) +
                                          ", but the records add up to " +
                                          std::to_string(right.pinned_bytes));

  EXPECT_EQ(must_fsck(Repair::yes).unrepaired(), 0U);
  expect_same_usage(store().usage(), right);
  m_store.reset();
  ASSERT_NO_FATAL_FAILURE(open_store());
  expect_same_usage(store().usage(), right);
  expect_clean();
}

// --- last uses and the eviction order ---

std::string lru_key_of(RawIndex& raw, const Hash& hash) {
  for (const auto& key : raw.keys("lru")) {
    if (key.size() == 8 + hash.size() && key.substr(8) == key_of(hash)) {
      return key;
    }
  }
  ADD_FAILURE() << "no eviction order entry for " << to_hex(hash);
  return {};
}

TEST_F(FsckTest, BlobMissingFromTheEvictionOrderIsPutBack) {
  const auto good = put_good_blobs();
  damage_index([&](RawIndex& raw) { raw.erase("lru", lru_key_of(raw, good[2].hash)); });

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::eviction_order);
  EXPECT_EQ(found.subject, good[2].hex());
  EXPECT_EQ(found.detail, "is missing from the eviction order: GC can never evict it");

  EXPECT_TRUE(only_finding(must_fsck(Repair::yes)).repaired);
  expect_clean();
  ASSERT_TRUE(store().gc(GcOptions{0, DryRun::no}));
  EXPECT_FALSE(store().contains(good[2].hash)) << "still out of GC's reach";
}

TEST_F(FsckTest, BlobWithoutALastUseGetsOne) {
  const auto good = put_good_blobs();
  damage_index([&](RawIndex& raw) {
    raw.erase("lru", lru_key_of(raw, good[1].hash));
    raw.erase("atime", key_of(good[1].hash));
  });
  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.detail, "has no last use: GC can never evict it");
  EXPECT_TRUE(only_finding(must_fsck(Repair::yes)).repaired);
  expect_clean();
}

TEST_F(FsckTest, StaleEvictionOrderAndLastUseAreDropped) {
  const auto good = put_good_blobs();
  const Hash gone = digest_of(random_bytes(10, 32)).hash;
  damage_index([&](RawIndex& raw) {
    raw.put("lru", std::string(8, '\0') + key_of(gone), "");
    raw.put("atime", key_of(gone), std::string(8, '\0'));
  });
  const auto found = must_fsck(Repair::no);
  ASSERT_EQ(of_kind(found, FsckIssue::eviction_order).size(), 2U) << describe(found);
  EXPECT_EQ(found.findings.size(), 2U);
  EXPECT_EQ(must_fsck(Repair::yes).unrepaired(), 0U);
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, UnreadableLastUseIsRewritten) {
  const auto good = put_good_blobs();
  damage_index([&](RawIndex& raw) { raw.put("atime", key_of(good[3].hash), "abc"); });
  ASSERT_FALSE(store().gc(GcOptions{0, DryRun::no})) << "GC read an unreadable last use";

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::bad_record);
  EXPECT_EQ(found.detail, "last use is 3 bytes, not 8");

  // The old place in the order is stale once the last use is rewritten: dropped in the same run.
  EXPECT_EQ(must_fsck(Repair::yes).unrepaired(), 0U);
  expect_clean();
  ASSERT_TRUE(store().gc(GcOptions{0, DryRun::no}));
}

// Every table of the index, damaged: each is reported, and repaired. The switch has no
// default, so a table added to INGOT_INDEX_TABLES does not compile here until it has a case,
// and a namespace added to INGOT_NAMESPACES is damaged here like the others.
TEST_F(FsckTest, EveryTableOfTheIndexIsChecked) {
  const auto good = put_good_blobs();
  for (const IndexTable table : k_index_tables) {
    SCOPED_TRACE(std::string(to_string(table)));
    const std::string name(to_string(table));
    std::string key = "\x01";
    std::string value = "?";
    switch (table) {
    case IndexTable::meta:
      key = "pinset/x"; // the rest of meta is opaque
      break;
    case IndexTable::blobs:
    case IndexTable::pins:
    case IndexTable::atime:
    case IndexTable::lru:
    case IndexTable::backrefs:
      break; // a key no record of these has
#define INGOT_TEST_NAMESPACE_CASE(ns) case IndexTable::ns:
      INGOT_NAMESPACES(INGOT_TEST_NAMESPACE_CASE)
#undef INGOT_TEST_NAMESPACE_CASE
      // An entry, counted, whose value then becomes unreadable.
      ASSERT_TRUE(ok(store().ns_put(*namespace_of(table), key, good[0])));
      break;
    }
    damage_index([&](RawIndex& raw) { raw.put(name, key, value); });
    const auto found = must_fsck(Repair::no);
    EXPECT_EQ(found.findings.size(), 1U) << describe(found);
    EXPECT_EQ(must_fsck(Repair::yes).unrepaired(), 0U);
    expect_clean();
  }
  expect_readable(good);
}

} // namespace
} // namespace ingot::cas
