// fsck's words for pinned data (after the store's own pass and the Nix pass): a damaged or
// missing blob that a release, a pinned ref or a pinned Nix path needs is named as such, with
// how to bring it back. The store never drops a pin (cas::FsckFinding::pinned_by), so these
// findings stay unrepaired, and fsck exits non-zero, until the blob is uploaded again.
#pragma once

#include "cas/store.hpp"

namespace ingot::server {

[[nodiscard]] Result<void> explain_pinned(cas::Store& store, cas::Repair repair,
                                          cas::FsckReport& report);

} // namespace ingot::server
