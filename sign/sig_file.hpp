// What minisign and signify files share, for sign/'s own .cpp files only: the
// "untrusted comment: " line, the base64 line of algorithm, key ID and signature, and the
// error for a signature made by another key.
#pragma once

#include "sign/keys.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ingot::sign::detail {

// Both formats start every file with this line prefix (minisign.h COMMENT_PREFIX, signify.c
// COMMENTHDR).
inline constexpr std::string_view k_untrusted_prefix = "untrusted comment: ";

// Ed25519 signatures over the message itself (minisign "Ed", signify) or over its BLAKE2b-512
// (minisign "ED", prehashed).
inline constexpr std::array<std::uint8_t, 2> k_alg_ed{'E', 'd'};
inline constexpr std::array<std::uint8_t, 2> k_alg_ed_hashed{'E', 'D'};

// A key ID as minisign prints it: the 8 bytes as a little-endian number, in uppercase hex.
std::string key_id_hex(const KeyId& id);

// libsodium must be initialised before use; safe to call from any thread, any number of times.
void ensure_sodium();

// libsodium wants a pointer even for an empty message; an empty span may hold nullptr.
const std::uint8_t* data_or_null_safe(ByteView bytes);

struct SignatureLine {
  std::array<std::uint8_t, 2> algorithm{};
  KeyId key_id{};
  Signature signature{};
};

// base64(algorithm || key ID || signature), the second line of both formats.
std::string encode_signature_line(const SignatureLine& line);
// Errc::invalid_argument naming `file_kind` when the text is not 74 bytes of base64; the
// algorithm is not checked here.
[[nodiscard]] Result<SignatureLine> decode_signature_line(std::string_view text,
                                                          std::string_view file_kind);

// Takes the next line off `rest`: the text up to '\n' (without it, and without a '\r' before
// it). `had_newline` tells whether a '\n' ended it.
std::string_view take_line(std::string_view& rest, bool* had_newline = nullptr);

// Errc::invalid_argument: the signature's key ID is not `key`'s.
Error wrong_key(const KeyId& signed_by, const PublicKey& key);

} // namespace ingot::sign::detail
