#include "server/gc_report_json.hpp"

#include <nlohmann/json.hpp>

namespace ingot::server {

nlohmann::json gc_report_json(const cas::GcReport& r) {
  const auto evicted = [](const cas::Evicted& e) {
    return nlohmann::json{{"entries", e.entries}, {"bytes", e.bytes}};
  };
  nlohmann::json j{
      {"dry_run", r.dry_run},
      {"target_bytes", r.target},
      {"before_bytes", r.before},
      {"after_bytes", r.after},
      {"target_reached", r.target_reached},
      {"evicted",
       {{"cas", evicted(r.cas)},
        {"ac", evicted(r.ac)},
        {"kv", evicted(r.kv)},
        {"ref", evicted(r.ref)},
        {"nix", evicted(r.nix)}}},
      {"oldest_survivor_age_seconds", nullptr},
      {"duration_seconds", r.duration_s},
      {"finished_unix_seconds", r.finished_unix_s},
  };
  if (r.oldest_survivor_age_s) {
    j["oldest_survivor_age_seconds"] = *r.oldest_survivor_age_s;
  }
  return j;
}

} // namespace ingot::server
