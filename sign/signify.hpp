// signify (OpenBSD) signatures with the message embedded, as `signify -S -e` writes them, so
// that stock `signify -C -p KEY.pub -x SHA256.sig` checks the files the message lists.
#pragma once

#include "sign/keys.hpp"

#include <string>
#include <string_view>

namespace ingot::sign {

// "untrusted comment: …\n<base64(Ed || key ID || Ed25519(message))>\n<message>".
[[nodiscard]] std::string signify_sign_embedded(const SecretKey& key, std::string_view message);

// Checks an embedded signature with `key` and returns the message; errors as minisign_verify.
[[nodiscard]] Result<std::string> signify_verify_embedded(const PublicKey& key,
                                                          std::string_view signed_file);

} // namespace ingot::sign
