// Internal to cas/: GC reports as kept in the index (the last one, so that `ingot stats` shows
// it after a restart), and the bucket of a report each namespace's evictions count in.
#pragma once

#include "cas/store.hpp"

#include <optional>
#include <string>

namespace ingot::cas {

std::string encode_report(const GcReport& report);
// nullopt for a value this version cannot read.
std::optional<GcReport> decode_report(const std::string& text);

Evicted& bucket(GcReport& report, Namespace ns);

} // namespace ingot::cas
