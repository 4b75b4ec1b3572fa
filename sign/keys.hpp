// Ed25519 signing keys (libsodium), and their public halves in the formats verifiers already
// read: minisign and signify key files (the same format), and Nix's "name:base64".
#pragma once

#include "util/bytes.hpp"
#include "util/result.hpp"

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace ingot::sign {

using KeyId = std::array<std::uint8_t, 8>;
using Signature = std::array<std::uint8_t, 64>;

struct PublicKey {
  std::string name;
  KeyId id{};
  std::array<std::uint8_t, 32> key{};

  // The key ID as minisign prints it: 16 uppercase hex digits of the little-endian number.
  std::string id_hex() const;
  // A minisign (and signify) public key file: "untrusted comment: …\n<base64>\n".
  std::string to_minisign() const;
  // Nix's trusted-public-keys form: "name:base64(key)".
  std::string to_nix() const;
};

class SecretKey {
public:
  SecretKey(PublicKey public_key, const std::array<std::uint8_t, 64>& secret);
  ~SecretKey(); // wipes the secret
  SecretKey(SecretKey&&) noexcept;
  SecretKey& operator=(SecretKey&&) noexcept;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;

  const PublicKey& public_key() const { return m_public; }
  // Pure Ed25519 over `message`.
  Signature sign(ByteView message) const;

private:
  // The only reader of the secret outside sign(): it writes it to NAME.key.
  friend Result<void> write_key_files(const SecretKey& key, const std::filesystem::path& dir);

  PublicKey m_public;
  std::unique_ptr<std::array<std::uint8_t, 64>> m_secret;
};

// A new key with a random 8-byte key ID. Names are [A-Za-z0-9._-]+, at most 64 characters,
// not starting with '.' or '-' (they become file names, command-line arguments and Nix key
// names).
[[nodiscard]] Result<SecretKey> generate_key(std::string name);

// Writes DIR/NAME.key (the secret, mode 0600, never overwriting an existing file),
// DIR/NAME.pub (minisign/signify format) and DIR/NAME.nix.pub ("name:base64\n").
[[nodiscard]] Result<void> write_key_files(const SecretKey& key, const std::filesystem::path& dir);

// Reads a NAME.key file. A file that group or others may read or write is refused, with an
// error that names it and says `chmod 600`.
[[nodiscard]] Result<SecretKey> load_secret_key(const std::filesystem::path& file);

// A minisign/signify public key file's text (or just its base64 line).
[[nodiscard]] Result<PublicKey> parse_public_key(std::string_view text);
[[nodiscard]] Result<PublicKey> load_public_key(const std::filesystem::path& file);

[[nodiscard]] bool verify(const PublicKey& key, ByteView message, const Signature& signature);

} // namespace ingot::sign
