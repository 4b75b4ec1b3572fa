#include "sign/keys.hpp"

#include "sign/sig_file.hpp"
#include "util/base64.hpp"
#include "util/file_io.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

namespace ingot::sign {

namespace fs = std::filesystem;
using detail::k_alg_ed;
using detail::k_untrusted_prefix;

namespace {

// NAME.key is Ingot's own format (minisign's needs scrypt or a "no password" marker and a
// checksum; ours relies on the file mode and on re-deriving the public key instead):
//   ingot secret key v1 NAME
//   base64("Ed" || key ID || libsodium secret key (seed || public key))
constexpr std::string_view k_secret_header = "ingot secret key v1 ";
constexpr std::size_t k_secret_blob_size = 2 + 8 + 64;
// Our public key comment carries the key's name, so that parsing NAME.pub gives it back.
constexpr std::string_view k_public_comment = "ingot public key ";
constexpr std::size_t k_public_blob_size = 2 + 8 + 32;
constexpr std::size_t k_max_name = 64;
constexpr std::size_t k_max_key_file = std::size_t{64} * 1024;

void wipe(std::string& s) {
  ::sodium_memzero(s.data(), s.size());
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > k_max_name || name.front() == '.' || name.front() == '-') {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

Error bad_name(std::string_view name) {
  return make_error(Errc::invalid_argument,
                    "key name '" + std::string(name) +
                        "' is not allowed; use up to 64 of A-Z a-z 0-9 . _ - "
                        "(not starting with '.' or '-'), e.g. cache.example.org-1");
}

Error damaged_key(const fs::path& file, const std::string& why) {
  return make_error(Errc::corrupt, "signing key " + file.string() + " is damaged (" + why +
                                       "); restore it from a backup or make a new key");
}

std::string mode_octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Result<std::string> read_fd(int fd, std::size_t size, const fs::path& file) {
  std::string text(size, '\0');
  auto n = pread_full(fd, {reinterpret_cast<std::uint8_t*>(text.data()), text.size()}, 0, file);
  if (!n) {
    wipe(text);
    return std::move(n).error();
  }
  text.resize(*n);
  return text;
}

// Writes a new file that must not exist yet; on failure nothing is left behind.
Result<void> create_exclusive(const fs::path& path, std::string_view text, mode_t mode) {
  const int raw_fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (raw_fd < 0) {
    if (errno == EEXIST) {
      return make_error(Errc::invalid_argument,
                        path.string() +
                            " already exists; choose another key name or directory (a removed "
                            "secret key cannot be recovered, so it is never overwritten)");
    }
    return errno_error(errno, "cannot create " + path.string());
  }
  UniqueFd fd(raw_fd);
  auto written = write_all(fd.get(), as_bytes(text), path);
  if (written) {
    written = fsync_fd(fd.get(), path);
  }
  if (!written) {
    ::unlink(path.c_str());
  }
  return written;
}

// Public files may be replaced: once NAME.key was created afresh, any older NAME.pub is stale.
Result<void> replace_file(const fs::path& path, std::string_view text) {
  const fs::path tmp = path.string() + ".tmp";
  auto fd = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
  if (!fd) {
    return std::move(fd).error();
  }
  auto written = write_all(fd->get(), as_bytes(text), tmp);
  if (written) {
    written = fsync_fd(fd->get(), tmp);
  }
  if (written && ::rename(tmp.c_str(), path.c_str()) != 0) {
    written = errno_error(errno, "cannot rename " + tmp.string() + " to " + path.string());
  }
  if (!written) {
    ::unlink(tmp.c_str());
  }
  return written;
}

Result<void> fsync_dir(const fs::path& dir) {
  auto fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (!fd) {
    return std::move(fd).error();
  }
  return fsync_fd(fd->get(), dir);
}

// The secret half of an Ed25519 key in libsodium's layout is seed || public key; a key whose
// seed does not give that public key again is damaged.
bool secret_is_consistent(const std::array<std::uint8_t, 64>& secret) {
  std::array<std::uint8_t, 32> derived_public{};
  std::array<std::uint8_t, 64> derived_secret{};
  ::crypto_sign_seed_keypair(derived_public.data(), derived_secret.data(), secret.data());
  ::sodium_memzero(derived_secret.data(), derived_secret.size());
  return std::equal(derived_public.begin(), derived_public.end(), secret.begin() + 32);
}

Result<SecretKey> parse_secret_key(std::string_view text, const fs::path& file) {
  std::string_view rest = text;
  const std::string_view header = detail::take_line(rest);
  if (!header.starts_with(k_secret_header)) {
    return damaged_key(file, "its first line is not \"" + std::string(k_secret_header) + "NAME\"");
  }
  const std::string_view name = header.substr(k_secret_header.size());
  if (!valid_name(name)) {
    return damaged_key(file, "the key name in its first line is not valid");
  }
  const std::string_view encoded = detail::take_line(rest);
  if (rest.find_first_not_of("\r\n") != std::string_view::npos) {
    return damaged_key(file, "it has more than two lines");
  }
  auto blob = base64_decode(encoded);
  if (!blob || blob->size() != k_secret_blob_size) {
    if (blob) {
      wipe(*blob);
    }
    return damaged_key(file, "its second line is not a base64 secret key");
  }
  const auto* raw = reinterpret_cast<const std::uint8_t*>(blob->data());
  if (!std::equal(k_alg_ed.begin(), k_alg_ed.end(), raw)) {
    wipe(*blob);
    return damaged_key(file, "it is not an Ed25519 key");
  }
  PublicKey pub;
  pub.name = std::string(name);
  std::copy_n(raw + 2, pub.id.size(), pub.id.begin());
  std::array<std::uint8_t, 64> secret{};
  std::copy_n(raw + 2 + pub.id.size(), secret.size(), secret.begin());
  wipe(*blob);
  if (!secret_is_consistent(secret)) {
    ::sodium_memzero(secret.data(), secret.size());
    return damaged_key(file, "its public half does not belong to its secret half");
  }
  std::copy(secret.begin() + 32, secret.end(), pub.key.begin());
  SecretKey key(std::move(pub), secret);
  ::sodium_memzero(secret.data(), secret.size());
  return key;
}

// Our own comment names the key: "ingot public key NAME, key ID <hex>".
std::string name_from_comment(std::string_view comment) {
  if (!comment.starts_with(k_public_comment)) {
    return {};
  }
  comment.remove_prefix(k_public_comment.size());
  const std::string_view name = comment.substr(0, comment.find(','));
  return valid_name(name) ? std::string(name) : std::string();
}

std::string_view trim_blanks(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

} // namespace

std::string PublicKey::id_hex() const {
  return detail::key_id_hex(id);
}

std::string PublicKey::to_minisign() const {
  std::array<std::uint8_t, k_public_blob_size> blob{};
  auto out = std::copy(k_alg_ed.begin(), k_alg_ed.end(), blob.begin());
  out = std::copy(id.begin(), id.end(), out);
  std::copy(key.begin(), key.end(), out);
  // minisign itself writes "minisign public key <ID>"; signify only checks the prefix.
  const std::string comment = name.empty()
                                  ? "minisign public key " + id_hex()
                                  : std::string(k_public_comment) + name + ", key ID " + id_hex();
  return std::string(k_untrusted_prefix) + comment + "\n" + base64_encode(blob) + "\n";
}

std::string PublicKey::to_nix() const {
  return name + ":" + base64_encode(key);
}

SecretKey::SecretKey(PublicKey public_key, const std::array<std::uint8_t, 64>& secret)
    : m_public(std::move(public_key)),
      m_secret(std::make_unique<std::array<std::uint8_t, 64>>(secret)) {}

SecretKey::~SecretKey() {
  if (m_secret) {
    ::sodium_memzero(m_secret->data(), m_secret->size());
  }
}

SecretKey::SecretKey(SecretKey&&) noexcept = default;

SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
  if (this != &other) {
    if (m_secret) {
      ::sodium_memzero(m_secret->data(), m_secret->size());
    }
    m_public = std::move(other.m_public);
    m_secret = std::move(other.m_secret);
  }
  return *this;
}

Signature SecretKey::sign(ByteView message) const {
  if (!m_secret) {
    throw std::logic_error("SecretKey::sign on a moved-from key");
  }
  detail::ensure_sodium();
  Signature signature{};
  ::crypto_sign_detached(signature.data(), nullptr, detail::data_or_null_safe(message),
                         message.size(), m_secret->data());
  return signature;
}

Result<SecretKey> generate_key(std::string name) {
  if (!valid_name(name)) {
    return bad_name(name);
  }
  detail::ensure_sodium();
  PublicKey pub;
  pub.name = std::move(name);
  std::array<std::uint8_t, 64> secret{};
  ::crypto_sign_keypair(pub.key.data(), secret.data());
  ::randombytes_buf(pub.id.data(), pub.id.size());
  SecretKey key(std::move(pub), secret);
  ::sodium_memzero(secret.data(), secret.size());
  return key;
}

Result<void> write_key_files(const SecretKey& key, const fs::path& dir) {
  if (!key.m_secret) {
    throw std::logic_error("write_key_files with a moved-from key");
  }
  const PublicKey& pub = key.public_key();
  if (!valid_name(pub.name)) {
    return bad_name(pub.name);
  }
  std::array<std::uint8_t, k_secret_blob_size> blob{};
  auto out = std::copy(k_alg_ed.begin(), k_alg_ed.end(), blob.begin());
  out = std::copy(pub.id.begin(), pub.id.end(), out);
  std::copy(key.m_secret->begin(), key.m_secret->end(), out);
  std::string encoded = base64_encode(blob);
  ::sodium_memzero(blob.data(), blob.size());
  std::string text;
  text.reserve(k_secret_header.size() + pub.name.size() + encoded.size() + 2);
  text.append(k_secret_header).append(pub.name).append("\n").append(encoded).append("\n");
  wipe(encoded);
  const fs::path key_file = dir / (pub.name + ".key");
  auto written = create_exclusive(key_file, text, 0600);
  wipe(text);
  INGOT_TRY(written);
  written = replace_file(dir / (pub.name + ".pub"), pub.to_minisign());
  if (written) {
    written = replace_file(dir / (pub.name + ".nix.pub"), pub.to_nix() + "\n");
  }
  if (written) {
    written = fsync_dir(dir);
  }
  if (!written) {
    // Nothing was published with this key: leave the name free for the next attempt.
    ::unlink(key_file.c_str());
  }
  return written;
}

Result<SecretKey> load_secret_key(const fs::path& file) {
  auto fd = open_file(file, O_RDONLY | O_NOFOLLOW);
  if (!fd) {
    return std::move(fd).error();
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) {
    return errno_error(errno, "cannot stat " + file.string());
  }
  if (!S_ISREG(st.st_mode)) {
    return make_error(Errc::invalid_argument, file.string() + " is not a signing key file");
  }
  // Like ssh with its private keys: a secret others could read may already be known to them.
  if ((st.st_mode & 077) != 0) {
    const char* how = (st.st_mode & 044) != 0   ? "readable"
                      : (st.st_mode & 022) != 0 ? "writable"
                                                : "executable";
    return make_error(Errc::unauthorized, "signing key " + file.string() + " is " + how +
                                              " by others (mode " + mode_octal(st.st_mode) +
                                              "); chmod 600 " + file.string());
  }
  if (static_cast<std::uint64_t>(st.st_size) > k_max_key_file) {
    return damaged_key(file, "it is " + std::to_string(st.st_size) + " bytes long");
  }
  detail::ensure_sodium();
  auto text = read_fd(fd->get(), static_cast<std::size_t>(st.st_size), file);
  if (!text) {
    return std::move(text).error();
  }
  auto key = parse_secret_key(*text, file);
  wipe(*text);
  return key;
}

Result<PublicKey> parse_public_key(std::string_view text) {
  std::string_view rest = text;
  std::string_view line = detail::take_line(rest);
  PublicKey pub;
  if (line.starts_with(k_untrusted_prefix)) {
    pub.name = name_from_comment(line.substr(k_untrusted_prefix.size()));
    line = detail::take_line(rest);
  }
  const auto blob = base64_decode(trim_blanks(line));
  if (!blob || blob->size() != k_public_blob_size) {
    return make_error(Errc::invalid_argument,
                      "not a minisign or signify public key: expected an \"untrusted comment: \" "
                      "line and then a base64 key, as in the .pub files minisign -G writes");
  }
  const auto* raw = reinterpret_cast<const std::uint8_t*>(blob->data());
  if (!std::equal(k_alg_ed.begin(), k_alg_ed.end(), raw)) {
    return make_error(Errc::invalid_argument, "public key is not an Ed25519 (\"Ed\") key");
  }
  std::copy_n(raw + 2, pub.id.size(), pub.id.begin());
  std::copy_n(raw + 2 + pub.id.size(), pub.key.size(), pub.key.begin());
  return pub;
}

Result<PublicKey> load_public_key(const fs::path& file) {
  auto fd = open_file(file, O_RDONLY);
  if (!fd) {
    return std::move(fd).error();
  }
  // A public key file is two short lines; reading a few KiB is enough to parse it.
  auto text = read_fd(fd->get(), 4096, file);
  if (!text) {
    return std::move(text).error();
  }
  auto key = parse_public_key(*text);
  if (!key) {
    return make_error(key.error().code, file.string() + ": " + key.error().message);
  }
  // A key made by minisign or signify has no name in it; NAME.pub names it.
  if (key->name.empty()) {
    const std::string file_name = file.filename().string();
    if (file_name.ends_with(".pub")) {
      const std::string stem = file_name.substr(0, file_name.size() - 4);
      if (valid_name(stem)) {
        key->name = stem;
      }
    }
  }
  return key;
}

bool verify(const PublicKey& key, ByteView message, const Signature& signature) {
  detail::ensure_sodium();
  return ::crypto_sign_verify_detached(signature.data(), detail::data_or_null_safe(message),
                                       message.size(), key.key.data()) == 0;
}

} // namespace ingot::sign
