// Writing to, reading from and looking inside a real cas::Store, for the tests that use one.
#pragma once

#include "cas/digest.hpp"
#include "cas/store.hpp"
#include "util/result.hpp"

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ingot::test {

// Stores `data` and returns its digest; a failed put fails the test and returns Digest{}.
cas::Digest must_put(cas::Store& store, std::string_view data);

// A store with default options in `dir`; fails the current test (and returns null) if it
// cannot be opened.
std::unique_ptr<cas::Store> open_store(const std::filesystem::path& dir);

// Streams `data` in through begin_write in pieces of `chunk` bytes, as a network upload would.
[[nodiscard]] Result<cas::Digest>
write_in_chunks(cas::Store& store, std::string_view data, std::size_t chunk,
                std::optional<cas::Digest> expected = std::nullopt);

// Reads a whole blob through open_read and hashes what came out, so that a test judges the
// bytes by their digest rather than by trusting the store. The bytes go to `bytes` if given.
[[nodiscard]] Result<cas::Digest> read_and_hash(cas::Store& store, const cas::Hash& hash,
                                                std::string* bytes = nullptr);

// Blob files are sharded by hash prefix under blobs/; the file name carries the hex digest.
std::vector<std::filesystem::path> blob_files_of(const std::filesystem::path& data_dir,
                                                 const cas::Digest& digest);

// In-flight writes live in tmp/; anything left there after a write ended is a leak.
std::vector<std::filesystem::path> tmp_files(const std::filesystem::path& data_dir);

// Every counter of `actual` equals that of `expected`.
void expect_same_usage(const cas::Usage& actual, const cas::Usage& expected);

} // namespace ingot::test
