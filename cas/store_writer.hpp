// Internal to cas/: the streaming write path (store_writer.cpp). A writer reserves its space,
// leases a blob it finds already stored, and commits to the blob records; it never calls back
// into the store.
#pragma once

#include "cas/store.hpp"

#include <memory>
#include <optional>

namespace ingot::cas {

class BlobRecords;
class Leases;
class SpaceAccount;

struct WriterParts {
  const StoreOptions& options; // inline threshold, compression, the bound's size
  SpaceAccount& space;         // reservations
  Leases& leases;              // for a blob that is uploaded again
  BlobRecords& records;        // temp files, and the commit
};

[[nodiscard]] Result<std::unique_ptr<BlobWriter>> make_writer(const WriterParts& parts,
                                                              std::optional<Digest> expected);

} // namespace ingot::cas
