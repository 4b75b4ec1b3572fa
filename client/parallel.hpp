// Runs independent jobs on a few threads and stops at the first failure.
#pragma once

#include "util/result.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace ingot::client {

// Calls job(i) for every i in [0, count) on up to `threads` threads. After the first error no
// new job starts; that error is returned once the running ones end.
[[nodiscard]] inline Result<void>
parallel_for(std::size_t count, unsigned threads,
             const std::function<Result<void>(std::size_t)>& job) {
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::optional<Error> first_error;
  const auto work = [&] {
    while (!failed.load(std::memory_order_relaxed)) {
      const auto i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= count) {
        return;
      }
      if (auto r = job(i); !r) {
        const std::lock_guard lock(error_mutex);
        if (!first_error) {
          first_error = std::move(r).error();
        }
        failed = true;
      }
    }
  };
  const auto n = static_cast<std::size_t>(std::max(1u, threads));
  std::vector<std::jthread> pool;
  for (std::size_t t = 1; t < std::min(n, count); ++t) {
    pool.emplace_back(work);
  }
  work();
  pool.clear(); // joins
  if (first_error) {
    return std::move(*first_error);
  }
  return {};
}

} // namespace ingot::client
