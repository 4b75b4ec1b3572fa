// Internal to server/: the TLS context of an HTTPS listener (--tls-cert, --tls-key).
#pragma once

#include "util/result.hpp"

#include <filesystem>
#include <memory>

namespace boost::asio::ssl {
class context;
}

namespace ingot::server {

// Loads a PEM certificate chain and its private key: TLS 1.2 and 1.3 only, the key checked
// against the certificate. Errc::invalid_argument naming the file and what is wrong.
[[nodiscard]] Result<std::shared_ptr<boost::asio::ssl::context>>
load_tls_context(const std::filesystem::path& cert, const std::filesystem::path& key);

} // namespace ingot::server
