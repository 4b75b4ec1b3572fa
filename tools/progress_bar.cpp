#include "tools/progress_bar.hpp"

#include "util/size.hpp"

#include <cstdio>
#include <unistd.h>

namespace ingot::tools {

namespace {

// Redraws at most this often: fast enough to look live, slow enough to cost nothing.
constexpr auto k_redraw = std::chrono::milliseconds(100);
constexpr int k_bar_width = 24;

std::string duration_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

} // namespace

ProgressBar::ProgressBar(std::string verb) : m_verb(std::move(verb)) {}

bool ProgressBar::wanted() {
  return ::isatty(STDERR_FILENO) == 1;
}

void ProgressBar::start(std::size_t files, std::uint64_t bytes) {
  m_total_files = files;
  m_total_bytes = bytes;
  m_started = std::chrono::steady_clock::now();
  m_last_draw = {};
}

void ProgressBar::advance(std::size_t files, std::uint64_t bytes) {
  m_files += files;
  m_bytes += bytes;
  draw(false);
}

void ProgressBar::finish() {
  draw(true);
}

void ProgressBar::draw(bool final) {
  const std::unique_lock lock(m_draw, std::try_to_lock);
  if (!lock.owns_lock() && !final) {
    return; // another thread is drawing the same numbers
  }
  const auto now = std::chrono::steady_clock::now();
  if (!final && now - m_last_draw < k_redraw) {
    return;
  }
  m_last_draw = now;
  const double elapsed = std::chrono::duration<double>(now - m_started).count();
  const auto bytes = m_bytes.load();
  const auto files = m_files.load();
  const double fraction =
      m_total_bytes > 0   ? static_cast<double>(bytes) / static_cast<double>(m_total_bytes)
      : m_total_files > 0 ? static_cast<double>(files) / static_cast<double>(m_total_files)
                          : 1.0;
  const double rate = elapsed > 0 ? static_cast<double>(bytes) / elapsed : 0.0;
  std::string bar(k_bar_width, ' ');
  const int filled = static_cast<int>(fraction * k_bar_width);
  for (int i = 0; i < filled && i < k_bar_width; ++i) {
    bar[static_cast<std::size_t>(i)] = '=';
  }
  std::string eta = "--:--";
  if (final) {
    eta = duration_text(elapsed);
  } else if (rate > 0 && m_total_bytes > bytes) {
    eta = duration_text(static_cast<double>(m_total_bytes - bytes) / rate);
  }
  std::fprintf(
      stderr, "\r\033[K%s [%s] %zu/%zu files  %s/%s  %s/s  %s %s", m_verb.c_str(), bar.c_str(),
      files, m_total_files, format_size(bytes).c_str(), format_size(m_total_bytes).c_str(),
      format_size(static_cast<std::uint64_t>(rate)).c_str(), final ? "in" : "ETA", eta.c_str());
  if (final) {
    std::fputc('\n', stderr);
  }
  std::fflush(stderr);
}

} // namespace ingot::tools
