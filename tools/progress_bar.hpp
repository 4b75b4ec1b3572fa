// A one-line progress bar on stderr for long transfers, drawn only on a terminal.
#pragma once

#include "client/transfer.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

namespace ingot::tools {

class ProgressBar final : public client::ProgressSink {
public:
  // `verb` leads the line ("push", "pull").
  explicit ProgressBar(std::string verb);

  void start(std::size_t files, std::uint64_t bytes) override;
  void advance(std::size_t files, std::uint64_t bytes) override;
  void finish() override;

  // Whether stderr is a terminal, so a bar would be seen rather than logged.
  static bool wanted();

private:
  void draw(bool final);

  std::string m_verb;
  std::size_t m_total_files = 0;
  std::uint64_t m_total_bytes = 0;
  std::atomic<std::size_t> m_files{0};
  std::atomic<std::uint64_t> m_bytes{0};
  std::chrono::steady_clock::time_point m_started;
  std::chrono::steady_clock::time_point m_last_draw;
  std::mutex m_draw;
};

} // namespace ingot::tools
