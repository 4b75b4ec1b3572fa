// The one byte form of a REAPI Directory that Ingot hashes, shared by the scanner and the
// planner so that both compute the same digest for the same message. Internal to the client.
#pragma once

#include "cas/digest.hpp"
#include "reapi.pb.h"

#include <cstdint>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <string>

namespace ingot::client {

namespace reapi = build::bazel::remote::execution::v2;

// REAPI: a Directory's digest is taken over its deterministic serialization, so the bytes
// depend on the message alone and not on which library or version wrote them.
inline std::string canonical_bytes(const reapi::Directory& dir) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    // Fails only for missing required fields, which proto3 does not have.
    static_cast<void>(dir.SerializeToCodedStream(&coded));
  } // the stream trims `out` to what was written when it goes away
  return out;
}

inline void set_digest(reapi::Digest& out, const cas::Digest& d) {
  out.set_hash(d.hex());
  out.set_size_bytes(static_cast<std::int64_t>(d.size));
}

} // namespace ingot::client
