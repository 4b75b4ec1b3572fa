#include "fuzz_support.hpp"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <stdlib.h>

namespace ingot::fuzz {

namespace {

std::filesystem::path make_temp_dir() {
  const char* base = std::getenv("INGOT_TEST_TMP");
  const std::filesystem::path root =
      base != nullptr ? std::filesystem::path(base) : std::filesystem::temp_directory_path();
  std::filesystem::create_directories(root);
  std::string pattern = (root / "ingot-fuzz-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed under " + root.string());
  }
  return pattern;
}

// Destroyed at exit: the store closes before its directory goes.
struct Process {
  std::filesystem::path dir = make_temp_dir();
  std::filesystem::path scratch = dir / "scratch";
  std::unique_ptr<cas::Store> store;

  Process() {
    std::filesystem::create_directories(scratch);
    cas::StoreOptions options;
    options.dir = dir / "data";
    auto opened = cas::Store::open(options);
    if (!opened) {
      throw std::runtime_error("cannot open a store for fuzzing: " + opened.error().message);
    }
    store = std::move(*opened);
  }
  ~Process() {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

Process& process() {
  static Process p;
  return p;
}

} // namespace

cas::Store& store() {
  return *process().store;
}

const std::filesystem::path& scratch_dir() {
  return process().scratch;
}

void fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
  std::abort();
}

} // namespace ingot::fuzz
