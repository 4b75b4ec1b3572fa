// What the fuzz targets share: one real store per process, a check that aborts with a message
// (libFuzzer and the replay tests both report an abort as a failure), and a reader that splits
// one input into the several values a target needs.
#pragma once

#include "cas/store.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace ingot::fuzz {

// A real cas::Store on a temp dir (under $INGOT_TEST_TMP when set, else the system temp dir),
// opened on first use and removed when the process exits normally.
cas::Store& store();
// Another temp dir for the same process (tokens files, keys), removed with the store's.
const std::filesystem::path& scratch_dir();

[[noreturn]] void fail(const char* file, int line, const char* what);

// Consumes an input front to back; every read makes progress or returns what is left.
class Input {
public:
  Input(const std::uint8_t* data, std::size_t size)
      : m_rest(reinterpret_cast<const char*>(data), size) {}
  std::uint8_t byte() {
    if (m_rest.empty()) {
      return 0;
    }
    const auto b = static_cast<std::uint8_t>(m_rest.front());
    m_rest.remove_prefix(1);
    return b;
  }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
      v = (v << 8) | byte();
    }
    return v;
  }
  // Up to the next '\n' (dropped), or the rest.
  std::string_view line() {
    const auto nl = m_rest.find('\n');
    const auto out = m_rest.substr(0, nl);
    m_rest.remove_prefix(nl == std::string_view::npos ? m_rest.size() : nl + 1);
    return out;
  }
  std::string_view take(std::size_t n) {
    const auto out = m_rest.substr(0, n);
    m_rest.remove_prefix(out.size());
    return out;
  }
  std::string_view rest() const { return m_rest; }
  bool empty() const { return m_rest.empty(); }

private:
  std::string_view m_rest;
};

} // namespace ingot::fuzz

#define FUZZ_CHECK(cond)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      ::ingot::fuzz::fail(__FILE__, __LINE__, #cond);                                              \
    }                                                                                              \
  } while (false)
