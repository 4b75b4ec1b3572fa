#include "server/tls.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>
#include <unistd.h>

#include <boost/asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace ingot::server {

namespace ssl = boost::asio::ssl;

namespace {

// OpenSSL's reason for the last failure, as one line ("no start line", "key values mismatch").
std::string openssl_reason(const boost::system::error_code& ec) {
  std::string reason = ec.message();
  if (const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) {
    reason = r;
  }
  ERR_clear_error();
  return reason;
}

} // namespace

Result<std::shared_ptr<ssl::context>> load_tls_context(const std::filesystem::path& cert,
                                                       const std::filesystem::path& key) {
  // What the files are, before OpenSSL's less telling errors: missing, a directory, or not
  // readable by this user (a unit with DynamicUser= reading a root-only key).
  for (const auto* path : {&cert, &key}) {
    const std::string flag = path == &cert ? "--tls-cert " : "--tls-key ";
    std::error_code ec;
    if (!std::filesystem::exists(*path, ec)) {
      return make_error(Errc::invalid_argument,
                        flag + path->string() + ": no such file; pass a PEM file");
    }
    if (!std::filesystem::is_regular_file(*path, ec)) {
      return make_error(Errc::invalid_argument,
                        flag + path->string() + " is not a file; pass a PEM file");
    }
    if (::access(path->c_str(), R_OK) != 0) {
      return make_error(Errc::invalid_argument,
                        flag + path->string() + " cannot be read by this user (" +
                            std::strerror(errno) +
                            "); give the server's user read access, e.g. with a group");
    }
  }
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  // TLS 1.2 and 1.3: what curl, Bazel's Java and OpenSSL 3 clients all speak; older versions
  // have known attacks and no client of a build cache needs them.
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  boost::system::error_code ec;
  context->use_certificate_chain_file(cert.string(), ec);
  if (ec) {
    return make_error(Errc::invalid_argument,
                      "--tls-cert " + cert.string() + " holds no PEM certificate (" +
                          openssl_reason(ec) +
                          "); pass the server's certificate, followed by its chain");
  }
  // OpenSSL checks the key against the certificate as it loads it.
  context->use_private_key_file(key.string(), ssl::context::pem, ec);
  if (ec) {
    const std::string reason = openssl_reason(ec);
    if (reason.find("mismatch") != std::string::npos) {
      return make_error(Errc::invalid_argument,
                        "--tls-key " + key.string() + " does not match the certificate in " +
                            "--tls-cert " + cert.string() +
                            "; pass the key the certificate was issued for");
    }
    return make_error(Errc::invalid_argument, "--tls-key " + key.string() +
                                                  " holds no PEM private key (" + reason +
                                                  "); pass the key of --tls-cert " + cert.string());
  }
  // OpenSSL compares a key with a certificate of its own type only: an RSA key with an EC
  // certificate loads, and every handshake would fail (a renewal that changed the key type,
  // caught between its two files).
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    ERR_clear_error();
    return make_error(Errc::invalid_argument, "--tls-key " + key.string() +
                                                  " does not match the certificate in --tls-cert " +
                                                  cert.string() +
                                                  "; pass the key the certificate was issued for");
  }
  return context;
}

} // namespace ingot::server
