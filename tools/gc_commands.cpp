// gc and stats: an admin's view of a local data dir's space, and eviction with the server
// stopped (a running server answers the same through POST /v1/gc and GET /v1/stats).
#include "cas/store.hpp"
#include "server/gc_report_json.hpp"
#include "tools/commands.hpp"
#include "tools/data_dir.hpp"
#include "util/size.hpp"

#include <cstdio>
#include <ctime>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace ingot::tools {

namespace {

struct GcArgs {
  std::string data = k_default_data_dir;
  std::string target;
  bool dry_run = false;
  bool json = false;
};

std::string age(std::int64_t s) {
  if (s < 120) {
    return std::to_string(s) + "s";
  }
  if (s < 7200) {
    return std::to_string(s / 60) + "m";
  }
  if (s < 172800) {
    return std::to_string(s / 3600) + "h";
  }
  return std::to_string(s / 86400) + "d";
}

std::string when(std::int64_t unix_s) {
  const std::time_t t = unix_s;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

void print_report(const cas::GcReport& r) {
  const char* verb = r.dry_run ? "would evict" : "evicted";
  std::printf("%s (target %s, from %s to %s)%s\n", r.dry_run ? "dry run" : "gc",
              format_size(r.target).c_str(), format_size(r.before).c_str(),
              format_size(r.after).c_str(), r.target_reached ? "" : ": target NOT reached");
  const std::pair<const char*, const cas::Evicted*> rows[] = {
      {"cas", &r.cas}, {"ac", &r.ac}, {"kv", &r.kv}, {"ref", &r.ref}, {"nix", &r.nix}};
  for (const auto& [name, e] : rows) {
    std::printf("  %-4s %s %llu entries, %s\n", name, verb,
                static_cast<unsigned long long>(e->entries), format_size(e->bytes).c_str());
  }
  if (r.oldest_survivor_age_s) {
    std::printf("  oldest survivor last used %s ago; took %.3f s\n",
                age(*r.oldest_survivor_age_s).c_str(), r.duration_s);
  } else {
    std::printf("  no survivor: nothing evictable is left; took %.3f s\n", r.duration_s);
  }
}

int cmd_gc(const GcArgs& a) {
  cas::GcOptions options;
  options.dry_run = a.dry_run ? cas::DryRun::yes : cas::DryRun::no;
  cas::StoreOptions store_options;
  store_options.dir = a.data;
  if (!a.target.empty()) {
    auto target = parse_size(a.target);
    if (!target) {
      std::fprintf(stderr, "ingot: --target: '%s' is not a size like 10GiB\n", a.target.c_str());
      return k_exit_usage;
    }
    options.target = *target;
  }
  auto store = open_data_dir(
      store_options, "while it serves, run GC through it instead: POST /v1/gc with an admin token, "
                     "e.g. curl -X POST -H 'Authorization: Bearer TOKEN' "
                     "'http://HOST:PORT/v1/gc?dry_run=1' (leave out ?dry_run=1 to evict)");
  if (!store) {
    return fail(store.error());
  }
  if (!options.target) {
    // The bound the server last ran with, down to its low watermark.
    const auto recorded = (*store)->recorded_max_size();
    if (!recorded) {
      std::fprintf(stderr, "ingot: no target: give --target SIZE (this data dir was never "
                           "served with --max-size)\n");
      return k_exit_usage;
    }
    options.target =
        static_cast<std::uint64_t>(static_cast<double>(*recorded) * cas::StoreOptions{}.gc_low);
  }
  auto report = (*store)->gc(options);
  if (!report) {
    return fail(report.error());
  }
  if (a.json) {
    std::printf("%s\n", server::gc_report_json(*report).dump(2).c_str());
  } else {
    print_report(*report);
  }
  return k_exit_ok;
}

int cmd_stats(const std::string& data, bool json) {
  cas::StoreOptions options;
  options.dir = data;
  auto store = open_data_dir(options, "while it serves, ask it instead: GET /v1/stats, e.g. curl "
                                      "http://HOST:PORT/v1/stats");
  if (!store) {
    return fail(store.error());
  }
  const auto u = (*store)->usage();
  const auto s = (*store)->space();
  const auto gc = (*store)->gc_stats();
  const auto limit = (*store)->recorded_max_size();
  const auto lookups = u.hits + u.misses;
  const double hit_rate =
      lookups == 0 ? 0.0 : static_cast<double>(u.hits) / static_cast<double>(lookups);
  if (json) {
    nlohmann::json j{
        {"data_dir", data},
        {"disk_bytes", s.used},
        {"max_size_bytes", limit ? nlohmann::json(*limit) : nlohmann::json(nullptr)},
        {"stored_bytes", u.stored_bytes},
        {"logical_bytes", u.logical_bytes},
        {"pinned_bytes", u.pinned_bytes},
        {"entries",
         {{"cas", u.blobs},
          {"ac", u.ac_entries},
          {"kv", u.kv_entries},
          {"ref", u.ref_entries},
          {"nix", u.nix_entries}}},
        {"lookups", {{"hits", u.hits}, {"misses", u.misses}, {"hit_rate", hit_rate}}},
        {"oldest_entry_age_seconds",
         gc.oldest_entry_age_s ? nlohmann::json(*gc.oldest_entry_age_s) : nlohmann::json(nullptr)},
        {"last_gc", gc.last ? server::gc_report_json(*gc.last) : nlohmann::json(nullptr)}};
    std::printf("%s\n", j.dump(2).c_str());
    return k_exit_ok;
  }
  std::printf("data dir      %s\n", data.c_str());
  std::printf("on disk       %s of %s\n", format_size(s.used).c_str(),
              limit ? (format_size(*limit) + " (--max-size)").c_str() : "no limit");
  std::printf("stored        %s (%s before compression), %s pinned\n",
              format_size(u.stored_bytes).c_str(), format_size(u.logical_bytes).c_str(),
              format_size(u.pinned_bytes).c_str());
  std::printf(
      "entries       %llu blobs, %llu ac, %llu kv, %llu refs, %llu nix\n",
      static_cast<unsigned long long>(u.blobs), static_cast<unsigned long long>(u.ac_entries),
      static_cast<unsigned long long>(u.kv_entries), static_cast<unsigned long long>(u.ref_entries),
      static_cast<unsigned long long>(u.nix_entries));
  std::printf("hit rate      %.1f%% of %llu lookups\n", 100 * hit_rate,
              static_cast<unsigned long long>(lookups));
  if (gc.oldest_entry_age_s) {
    std::printf("oldest entry  last used %s ago\n", age(*gc.oldest_entry_age_s).c_str());
  } else {
    std::printf("oldest entry  never (nothing stored yet)\n");
  }
  if (gc.last) {
    const auto& r = *gc.last;
    std::printf(
        "last gc       %s: evicted %llu blobs (%s) in %.3f s\n", when(r.finished_unix_s).c_str(),
        static_cast<unsigned long long>(r.cas.entries),
        format_size(r.cas.bytes + r.ac.bytes + r.kv.bytes + r.ref.bytes + r.nix.bytes).c_str(),
        r.duration_s);
  } else {
    std::printf("last gc       never\n");
  }
  return k_exit_ok;
}

} // namespace

void add_gc_commands(CLI::App& app, std::function<int()>& run) {
  static GcArgs gc_args;
  static std::string stats_data = k_default_data_dir;
  static bool stats_json = false;

  auto* gc = app.add_subcommand(
      "gc", "Evict least recently used, unpinned blobs from a local data dir (server stopped; "
            "a running server takes POST /v1/gc)");
  add_data_option(gc, gc_args.data, "Data directory");
  gc->add_option("--target", gc_args.target,
                 "Size on disk to get down to, e.g. 10GiB (default: the low watermark of the "
                 "--max-size the data dir was last served with)");
  gc->add_flag("--dry-run", gc_args.dry_run, "Report what would be evicted, evict nothing");
  gc->add_flag("--json", gc_args.json, "Print the report as JSON");
  gc->callback([&run] {
    run = [] {
      return cmd_gc(gc_args);
    };
  });

  auto* stats = app.add_subcommand(
      "stats", "Print a local data dir's usage, limit, entries, hit rate and last GC (server "
               "stopped; a running server answers GET /v1/stats)");
  add_data_option(stats, stats_data, "Data directory");
  stats->add_flag("--json", stats_json, "Print as JSON");
  stats->callback([&run] {
    run = [] {
      return cmd_stats(stats_data, stats_json);
    };
  });
}

} // namespace ingot::tools
