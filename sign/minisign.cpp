#include "sign/minisign.hpp"

#include "sign/sig_file.hpp"
#include "util/base64.hpp"

#include <algorithm>
#include <stdexcept>

#include <sodium.h>

namespace ingot::sign {

using detail::k_alg_ed;
using detail::k_alg_ed_hashed;
using detail::k_untrusted_prefix;

namespace {

constexpr std::string_view k_trusted_prefix = "trusted comment: ";
// minisign reads the trusted comment line with fgets into 8192 bytes (TRUSTEDCOMMENTMAXBYTES)
// and needs the prefix, the newline and the terminating NUL to fit.
constexpr std::size_t k_max_trusted_comment = 8192 - k_trusted_prefix.size() - 2;

// minisign -V refuses control characters other than tab in the trusted comment.
bool minisign_accepts(std::string_view trusted_comment) {
  return trusted_comment.size() <= k_max_trusted_comment &&
         std::none_of(trusted_comment.begin(), trusted_comment.end(), [](char c) {
           const auto u = static_cast<unsigned char>(c);
           return (u < 0x20 && c != '\t') || u == 0x7f;
         });
}

// "ED": what is signed is BLAKE2b-512 of the data, so that minisign need not hold a large file
// in memory.
std::array<std::uint8_t, crypto_generichash_BYTES_MAX> blake2b_512(ByteView data) {
  detail::ensure_sodium();
  std::array<std::uint8_t, crypto_generichash_BYTES_MAX> hash{};
  ::crypto_generichash(hash.data(), hash.size(), detail::data_or_null_safe(data), data.size(),
                       nullptr, 0);
  return hash;
}

// The global signature covers the data signature and the trusted comment, as minisign builds
// it: signature (64 bytes) || comment, no separator.
std::string global_message(const Signature& signature, std::string_view trusted_comment) {
  std::string message(as_chars(signature));
  message.append(trusted_comment);
  return message;
}

Error malformed(const std::string& why) {
  return make_error(Errc::invalid_argument, "not a minisign signature file: " + why);
}

} // namespace

std::string minisign_sign(const SecretKey& key, ByteView data, std::string_view trusted_comment) {
  if (!minisign_accepts(trusted_comment)) {
    // A caller's bug: the comment is built by Ingot, never taken as is from a user.
    throw std::invalid_argument("minisign trusted comment must be one printable line of at most " +
                                std::to_string(k_max_trusted_comment) + " bytes");
  }
  detail::SignatureLine line;
  line.algorithm = k_alg_ed_hashed;
  line.key_id = key.public_key().id;
  line.signature = key.sign(blake2b_512(data));
  const Signature global = key.sign(as_bytes(global_message(line.signature, trusted_comment)));

  std::string out(k_untrusted_prefix);
  out.append("signature from ingot secret key ").append(key.public_key().name).append("\n");
  out.append(detail::encode_signature_line(line)).append("\n");
  out.append(k_trusted_prefix).append(trusted_comment).append("\n");
  out.append(base64_encode(global)).append("\n");
  return out;
}

Result<MinisignVerified> minisign_verify(const PublicKey& key, ByteView data,
                                         std::string_view minisig) {
  std::string_view rest = minisig;
  if (!detail::take_line(rest).starts_with(k_untrusted_prefix)) {
    return malformed("the first line does not start with \"" + std::string(k_untrusted_prefix) +
                     "\"");
  }
  auto line = detail::decode_signature_line(detail::take_line(rest), "minisign signature");
  if (!line) {
    return std::move(line).error();
  }
  const bool hashed = line->algorithm == k_alg_ed_hashed;
  if (!hashed && line->algorithm != k_alg_ed) {
    return malformed("unsupported signature algorithm (expected \"Ed\" or \"ED\")");
  }
  const std::string_view trusted_line = detail::take_line(rest);
  if (!trusted_line.starts_with(k_trusted_prefix)) {
    return malformed("the third line does not start with \"" + std::string(k_trusted_prefix) +
                     "\"");
  }
  const std::string_view trusted_comment = trusted_line.substr(k_trusted_prefix.size());
  const auto global = base64_decode(detail::take_line(rest));
  Signature global_signature{};
  if (!global || global->size() != global_signature.size()) {
    return malformed("the fourth line is not a base64 signature");
  }
  std::copy(global->begin(), global->end(), global_signature.begin());

  // The order minisign checks in: key ID, data, then trusted comment.
  if (line->key_id != key.id) {
    return detail::wrong_key(line->key_id, key);
  }
  const bool data_ok =
      hashed ? verify(key, blake2b_512(data), line->signature) : verify(key, data, line->signature);
  if (!data_ok) {
    return make_error(Errc::corrupt, "minisign signature does not match the data: the file was "
                                     "changed after signing, or this is another file's signature");
  }
  if (!verify(key, as_bytes(global_message(line->signature, trusted_comment)), global_signature)) {
    return make_error(Errc::corrupt,
                      "minisign trusted comment does not match its signature: it was edited");
  }
  return MinisignVerified{std::string(trusted_comment), line->key_id};
}

} // namespace ingot::sign
