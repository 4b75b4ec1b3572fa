// Builds REAPI Directory messages by hand, entry by entry, as the expected side of tree tests.
#pragma once

#include "cas/digest.hpp"
#include "reapi.pb.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace ingot::test {

namespace reapi = build::bazel::remote::execution::v2;

inline cas::Digest digest_of(const reapi::Directory& dir) {
  return cas::digest_of(dir.SerializeAsString());
}

inline void set(reapi::Digest& out, const cas::Digest& d) {
  out.set_hash(d.hex());
  out.set_size_bytes(static_cast<std::int64_t>(d.size));
}

inline void add_file(reapi::Directory& dir, const std::string& name, std::string_view content,
                     bool executable = false) {
  auto* f = dir.add_files();
  f->set_name(name);
  set(*f->mutable_digest(), cas::digest_of(content));
  f->set_is_executable(executable);
}

inline void add_dir(reapi::Directory& dir, const std::string& name, const reapi::Directory& child) {
  auto* d = dir.add_directories();
  d->set_name(name);
  set(*d->mutable_digest(), digest_of(child));
}

inline void add_symlink(reapi::Directory& dir, const std::string& name, const std::string& target) {
  auto* s = dir.add_symlinks();
  s->set_name(name);
  s->set_target(target);
}

} // namespace ingot::test
