#include "support/store_helpers.hpp"

#include "support/files.hpp"
#include "util/bytes.hpp"

#include <cstdint>
#include <utility>

#include <gtest/gtest.h>

namespace ingot::test {

namespace fs = std::filesystem;

std::unique_ptr<cas::Store> open_store(const std::filesystem::path& dir) {
  cas::StoreOptions options;
  options.dir = dir;
  auto store = cas::Store::open(options);
  EXPECT_TRUE(store) << store.error().message;
  return store ? std::move(*store) : nullptr;
}

cas::Digest must_put(cas::Store& store, std::string_view data) {
  auto d = store.put(as_bytes(data));
  EXPECT_TRUE(d) << d.error().message;
  return d ? *d : cas::Digest{};
}

Result<cas::Digest> write_in_chunks(cas::Store& store, std::string_view data, std::size_t chunk,
                                    std::optional<cas::Digest> expected) {
  auto writer = store.begin_write(expected);
  if (!writer) {
    return std::move(writer).error();
  }
  for (std::size_t off = 0; off < data.size(); off += chunk) {
    INGOT_TRY((*writer)->append(as_bytes(data.substr(off, chunk))));
  }
  return (*writer)->commit();
}

Result<cas::Digest> read_and_hash(cas::Store& store, const cas::Hash& hash, std::string* bytes) {
  auto reader = store.open_read(hash);
  if (!reader) {
    return std::move(reader).error();
  }
  cas::Sha256 hasher;
  std::vector<std::uint8_t> buffer(3001);
  std::uint64_t total = 0;
  for (;;) {
    auto n = (*reader)->read(buffer);
    if (!n) {
      return std::move(n).error();
    }
    if (*n == 0) {
      break;
    }
    total += *n;
    if (total > (*reader)->length()) {
      return make_error(Errc::io, "reader produced more than its length()");
    }
    const ByteView got(buffer.data(), *n);
    hasher.update(got);
    if (bytes != nullptr) {
      bytes->append(as_chars(got));
    }
  }
  return hasher.finish();
}

std::vector<fs::path> blob_files_of(const fs::path& data_dir, const cas::Digest& digest) {
  std::vector<fs::path> out;
  for (const auto& file : files_under(data_dir / "blobs")) {
    if (file.filename().string().find(digest.hex()) != std::string::npos) {
      out.push_back(file);
    }
  }
  return out;
}

std::vector<fs::path> tmp_files(const fs::path& data_dir) {
  return files_under(data_dir / "tmp");
}

void expect_same_usage(const cas::Usage& actual, const cas::Usage& expected) {
  EXPECT_EQ(actual.blobs, expected.blobs);
  EXPECT_EQ(actual.logical_bytes, expected.logical_bytes);
  EXPECT_EQ(actual.stored_bytes, expected.stored_bytes);
  EXPECT_EQ(actual.ac_entries, expected.ac_entries);
  EXPECT_EQ(actual.kv_entries, expected.kv_entries);
  EXPECT_EQ(actual.ref_entries, expected.ref_entries);
  EXPECT_EQ(actual.nix_entries, expected.nix_entries);
}

} // namespace ingot::test
