#include "sign/sig_file.hpp"

#include "util/base64.hpp"

#include <algorithm>
#include <stdexcept>

#include <sodium.h>

namespace ingot::sign::detail {

std::string key_id_hex(const KeyId& id) {
  constexpr std::string_view k_digits = "0123456789ABCDEF";
  std::string out;
  out.reserve(2 * id.size());
  // minisign prints le64_load(keynum) with %016llX: the last byte is the most significant.
  for (auto it = id.rbegin(); it != id.rend(); ++it) {
    out.push_back(k_digits[*it >> 4]);
    out.push_back(k_digits[*it & 0xf]);
  }
  return out;
}

void ensure_sodium() {
  // sodium_init() is itself thread-safe; the static only saves repeated calls.
  static const int k_status = ::sodium_init();
  if (k_status < 0) {
    throw std::runtime_error("libsodium failed to initialise");
  }
}

const std::uint8_t* data_or_null_safe(ByteView bytes) {
  static const std::uint8_t k_dummy = 0;
  return bytes.empty() ? &k_dummy : bytes.data();
}

std::string encode_signature_line(const SignatureLine& line) {
  std::array<std::uint8_t, 2 + 8 + 64> raw{};
  auto out = std::copy(line.algorithm.begin(), line.algorithm.end(), raw.begin());
  out = std::copy(line.key_id.begin(), line.key_id.end(), out);
  std::copy(line.signature.begin(), line.signature.end(), out);
  return base64_encode(raw);
}

Result<SignatureLine> decode_signature_line(std::string_view text, std::string_view file_kind) {
  const auto raw = base64_decode(text);
  SignatureLine line;
  if (!raw || raw->size() != line.algorithm.size() + line.key_id.size() + line.signature.size()) {
    return make_error(Errc::invalid_argument,
                      std::string(file_kind) + ": the signature line is not a base64 signature");
  }
  const auto* p = reinterpret_cast<const std::uint8_t*>(raw->data());
  std::copy_n(p, line.algorithm.size(), line.algorithm.begin());
  p += line.algorithm.size();
  std::copy_n(p, line.key_id.size(), line.key_id.begin());
  p += line.key_id.size();
  std::copy_n(p, line.signature.size(), line.signature.begin());
  return line;
}

std::string_view take_line(std::string_view& rest, bool* had_newline) {
  const auto end = rest.find('\n');
  std::string_view line = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  if (had_newline != nullptr) {
    *had_newline = end != std::string_view::npos;
  }
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return line;
}

Error wrong_key(const KeyId& signed_by, const PublicKey& key) {
  std::string name = key.name.empty() ? "" : " (" + key.name + ")";
  return make_error(Errc::invalid_argument, "signed by key " + key_id_hex(signed_by) +
                                                ", but the public key given is " + key.id_hex() +
                                                name + "; verify with the signer's public key");
}

} // namespace ingot::sign::detail
