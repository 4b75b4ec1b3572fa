#include "cas/digest.hpp"

#include "util/hex.hpp"

#include <cstring>
#include <stdexcept>

#include <openssl/evp.h>

namespace ingot::cas {

struct Sha256::Ctx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Ctx() { EVP_MD_CTX_free(ctx); }
  Ctx() = default;
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;
};

namespace {

const EVP_MD* sha256_md() {
  // Fetched once: EVP_sha256() is a cheap static, but explicit fetching avoids a provider
  // lookup per EVP_DigestInit_ex call in OpenSSL 3.
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

void init(EVP_MD_CTX* ctx) {
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, sha256_md(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL could not initialise SHA-256");
  }
}

} // namespace

Sha256::Sha256() : m_ctx(std::make_unique<Ctx>()) {
  init(m_ctx->ctx);
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(ByteView data) {
  if (!data.empty()) {
    EVP_DigestUpdate(m_ctx->ctx, data.data(), data.size());
    m_size += data.size();
  }
}

Digest Sha256::finish() {
  Digest d;
  unsigned int len = 0;
  EVP_DigestFinal_ex(m_ctx->ctx, d.hash.data(), &len);
  d.size = m_size;
  m_size = 0;
  init(m_ctx->ctx);
  return d;
}

Digest digest_of(ByteView data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

std::string Digest::hex() const {
  return to_hex(hash);
}

std::string Digest::to_string() const {
  return hex() + "/" + std::to_string(size);
}

Result<Hash> parse_hash(std::string_view hex) {
  if (hex.size() != 64) {
    return make_error(Errc::invalid_argument,
                      "digest '" + std::string(hex.substr(0, 80)) + "' is not 64 hex characters");
  }
  auto bytes = from_hex(hex);
  if (!bytes) {
    return make_error(Errc::invalid_argument,
                      "digest '" + std::string(hex) + "' is not lowercase hex (0-9, a-f)");
  }
  Hash h;
  std::memcpy(h.data(), bytes->data(), h.size());
  return h;
}

Result<Digest> parse_digest(std::string_view hex, std::uint64_t size) {
  auto h = parse_hash(hex);
  if (!h) {
    return std::move(h).error();
  }
  return Digest{*h, size};
}

Result<Digest> parse_digest_text(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return make_error(Errc::invalid_argument, "a digest is written <64 hex>/<size in bytes>");
  }
  const auto digits = text.substr(slash + 1);
  const auto not_a_size = [&] {
    return make_error(Errc::invalid_argument,
                      "digest size '" + std::string(digits) + "' is not a number of bytes");
  };
  // 19 digits always fit in 64 bits.
  if (digits.empty() || digits.size() > 19) {
    return not_a_size();
  }
  std::uint64_t size = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') {
      return not_a_size();
    }
    size = size * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return parse_digest(text.substr(0, slash), size);
}

const Digest& empty_digest() {
  static const Digest d = digest_of(ByteView{});
  return d;
}

} // namespace ingot::cas
