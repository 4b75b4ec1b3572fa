#include "sign/signify.hpp"

#include "sign/sig_file.hpp"

namespace ingot::sign {

using detail::k_alg_ed;
using detail::k_untrusted_prefix;

namespace {

// signify copies the comment (without the prefix) into 1024 bytes with strlcpy
// (COMMENTMAXLEN) and refuses an empty one.
constexpr std::size_t k_max_comment = 1023;

Error malformed(const std::string& why) {
  return make_error(Errc::invalid_argument, "not a signify signature file: " + why);
}

} // namespace

std::string signify_sign_embedded(const SecretKey& key, std::string_view message) {
  detail::SignatureLine line;
  line.algorithm = k_alg_ed;
  line.key_id = key.public_key().id;
  line.signature = key.sign(as_bytes(message));
  // signify -C without -p looks for the key named here (in /etc/signify); with -p it is only
  // a hint for people.
  std::string out(k_untrusted_prefix);
  out.append("verify with ").append(key.public_key().name).append(".pub\n");
  out.append(detail::encode_signature_line(line)).append("\n");
  out.append(message);
  return out;
}

Result<std::string> signify_verify_embedded(const PublicKey& key, std::string_view signed_file) {
  std::string_view rest = signed_file;
  bool had_newline = false;
  const std::string_view comment = detail::take_line(rest, &had_newline);
  if (!had_newline || !comment.starts_with(k_untrusted_prefix) ||
      comment.size() == k_untrusted_prefix.size()) {
    return malformed("the first line is not \"" + std::string(k_untrusted_prefix) + "…\"");
  }
  if (comment.size() - k_untrusted_prefix.size() > k_max_comment) {
    return malformed("the untrusted comment is longer than signify allows");
  }
  const std::string_view encoded = detail::take_line(rest, &had_newline);
  if (!had_newline) {
    return malformed("no newline after the signature line");
  }
  auto line = detail::decode_signature_line(encoded, "signify signature");
  if (!line) {
    return std::move(line).error();
  }
  if (line->algorithm != k_alg_ed) {
    return malformed("unsupported signature algorithm (expected \"Ed\")");
  }
  if (line->key_id != key.id) {
    return detail::wrong_key(line->key_id, key);
  }
  // Everything after the signature line, byte for byte, is the signed message.
  if (!verify(key, as_bytes(rest), line->signature)) {
    return make_error(Errc::corrupt, "signify signature does not match the embedded message: it "
                                     "was edited after signing");
  }
  return std::string(rest);
}

} // namespace ingot::sign
