// The fixture shared by the fsck tests (fsck_test.cpp, fsck_index_test.cpp,
// fsck_files_test.cpp): a real store, damaged for real (files flipped, truncated, deleted or
// dropped in; index values overwritten through RocksDB itself).
#pragma once

#include "cas/index_rocks.hpp"
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

namespace ingot::cas::fsck_test {

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

inline constexpr std::uint64_t k_threshold = 4096;

inline void write_file(const fs::path& path, const std::string& bytes) {
  // Blob files may be made read-only; bit rot does not ask for permission.
  if (fs::exists(path)) {
    fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline void flip_byte(const fs::path& path, std::size_t at) {
  std::string bytes = read_file(path);
  ASSERT_LT(at, bytes.size());
  bytes[at] = static_cast<char>(bytes[at] ^ 0x20);
  write_file(path, bytes);
}

inline std::string key_of(const Hash& hash) {
  return std::string(as_chars(hash));
}

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
        options.merge_operator = usage_merge_operator(); // the store's own
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

  // Drops a whole table, as in a data dir written before it existed.
  void drop_table(const std::string& table) {
    auto* handle = m_handles.at(table);
    const auto s = m_db->DropColumnFamily(handle);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_TRUE(m_db->DestroyColumnFamilyHandle(handle).ok());
    m_handles.erase(table);
  }

  std::vector<std::string> tables() {
    std::vector<std::string> out;
    for (const auto& [name, handle] : m_handles) {
      out.push_back(name);
    }
    return out;
  }

  void merge(const std::string& table, std::string_view key, std::string_view operand) {
    const auto s = m_db->Merge(rocksdb::WriteOptions(), m_handles.at(table), key, operand);
    ASSERT_TRUE(s.ok()) << s.ToString();
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
    EXPECT_EQ(report.entries_checked,
              usage.ac_entries + usage.kv_entries + usage.ref_entries + usage.nix_entries);
  }

  TempDir m_tmp;
  StoreOptions m_options;
  std::unique_ptr<Store> m_store;
};

inline std::vector<FsckFinding> of_kind(const FsckReport& report, FsckIssue issue) {
  std::vector<FsckFinding> out;
  std::copy_if(report.findings.begin(), report.findings.end(), std::back_inserter(out),
               [&](const FsckFinding& f) { return f.issue == issue; });
  return out;
}

inline std::string describe(const FsckReport& report) {
  std::string out;
  for (const auto& f : report.findings) {
    out += "\n  " + std::string(to_string(f.issue)) + " " + f.subject + ": " + f.detail +
           (f.action.empty() ? "" : " -> " + f.action);
  }
  return out;
}

// The one finding of a report, which must have exactly one.
inline FsckFinding only_finding(const FsckReport& report) {
  EXPECT_EQ(report.findings.size(), 1U) << describe(report);
  return report.findings.empty() ? FsckFinding{} : report.findings.front();
}

} // namespace ingot::cas::fsck_test
