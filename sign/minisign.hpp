// minisign signature files (https://jedisct1.github.io/minisign/), written so that stock
// `minisign -V` verifies them, and read back for Ingot's own verification.
#pragma once

#include "sign/keys.hpp"

#include <string>
#include <string_view>

namespace ingot::sign {

// A .minisig for `data`: algorithm "ED" (Ed25519 over the BLAKE2b-512 of the data, what
// minisign -H makes and every minisign since 0.8 verifies), the key ID, and a global
// signature over the signature and `trusted_comment` (one line, no newline).
[[nodiscard]] std::string minisign_sign(const SecretKey& key, ByteView data,
                                        std::string_view trusted_comment);

struct MinisignVerified {
  std::string trusted_comment;
  KeyId key_id{};
};

// Checks a .minisig against `data` and `key`: Errc::invalid_argument for a malformed file or a
// signature by another key (the message names both key IDs), Errc::corrupt when the data or
// the trusted comment does not match the signature. Accepts "Ed" (unhashed) and "ED".
[[nodiscard]] Result<MinisignVerified> minisign_verify(const PublicKey& key, ByteView data,
                                                       std::string_view minisig);

} // namespace ingot::sign
