// Content digests: SHA-256 of the bytes plus their size (REAPI v2 `Digest`).
#pragma once

#include "util/bytes.hpp"
#include "util/result.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ingot::cas {

using Hash = std::array<std::uint8_t, 32>;

struct Digest {
  Hash hash{};
  std::uint64_t size = 0;

  std::string hex() const;
  // "<hex>/<size>", the form used in logs and errors.
  std::string to_string() const;

  friend bool operator==(const Digest&, const Digest&) = default;
};

// Strict: exactly 64 lowercase hex characters.
[[nodiscard]] Result<Hash> parse_hash(std::string_view hex);
[[nodiscard]] Result<Digest> parse_digest(std::string_view hex, std::uint64_t size);
// The text form "<64 hex>/<size in bytes>" that Digest::to_string() writes.
[[nodiscard]] Result<Digest> parse_digest_text(std::string_view text);

// REAPI: the empty blob (e3b0c442…b855, size 0) is always present.
const Digest& empty_digest();

// Incremental SHA-256 through OpenSSL EVP, which uses the SHA-NI instructions when present.
class Sha256 {
public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(ByteView data);
  // Returns the digest of everything passed to update(); the hasher starts over afterwards.
  Digest finish();

private:
  struct Ctx;
  std::unique_ptr<Ctx> m_ctx;
  std::uint64_t m_size = 0;
};

Digest digest_of(ByteView data);
inline Digest digest_of(std::string_view data) {
  return digest_of(as_bytes(data));
}

} // namespace ingot::cas

template <>
struct std::hash<ingot::cas::Hash> {
  std::size_t operator()(const ingot::cas::Hash& h) const noexcept {
    std::size_t v = 0;
    static_assert(sizeof(v) <= sizeof(ingot::cas::Hash));
    // A SHA-256 is uniformly distributed: any 8 of its bytes are a good hash.
    __builtin_memcpy(&v, h.data(), sizeof(v));
    return v;
  }
};
