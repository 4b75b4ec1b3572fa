// Tokens and scopes. Tokens are 256-bit random secrets, so a single SHA-256 of each is what
// is stored and what a request is checked against: microseconds, no KDF per request.
#pragma once

#include "cas/digest.hpp"
#include "util/result.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ingot::server {

enum Scope : unsigned {
  k_scope_read = 1,
  k_scope_write = 2,
  k_scope_sign = 4,
  k_scope_admin = 8, // implies every other scope
};
using Scopes = unsigned;

[[nodiscard]] Result<Scopes> parse_scopes(std::string_view csv); // "read,write"
std::string scopes_to_string(Scopes scopes);
bool grants(Scopes held, Scopes needed);

struct TokenRecord {
  std::string id; // first 12 hex digits of the token's hash: safe to show and log
  std::string name;
  Scopes scopes = 0;
  std::string hash_hex;
  std::int64_t created_unix_s = 0;
};

// <data dir>/tokens: one JSON object per line, rewritten atomically under tokens.lock, so
// `ingot token` works while a server runs on the same data dir.
class TokenFile {
public:
  explicit TokenFile(const std::filesystem::path& data_dir);

  // Returns the new secret (shown once) and its record.
  [[nodiscard]] Result<std::pair<std::string, TokenRecord>> create(const std::string& name,
                                                                   Scopes scopes);
  [[nodiscard]] Result<std::vector<TokenRecord>> list() const;
  // By id or by name (a name must match exactly one token).
  [[nodiscard]] Result<TokenRecord> revoke(std::string_view id_or_name);

  const std::filesystem::path& path() const { return m_path; }

private:
  std::filesystem::path m_path;
  std::filesystem::path m_lock_path;
};

// The server's view of the tokens file, reloaded when the file changes (checked at most
// once a second, so a revoked token stops working within a second).
class Authenticator {
public:
  Authenticator(const std::filesystem::path& data_dir, Scopes anonymous);

  struct Identity {
    Scopes scopes = 0;
    bool presented = false; // the request carried credentials
    std::string name;       // token name, for the access log; empty when anonymous
  };
  // From an Authorization header value ("Bearer T" or "Basic base64(user:T)"); an empty
  // value is anonymous. Errc::unauthorized for an unknown token or a malformed header.
  [[nodiscard]] Result<Identity> authenticate(std::string_view authorization);

  // What one connection presented last, and what that authenticated to.
  struct Remembered {
    std::string authorization;
    std::uint64_t generation = 0; // of the token table it was checked against; 0: none
    Identity identity;
  };
  // As above, answering from `last` while a connection sends the same header again and the
  // token table has not changed: clients send one token on every request of a connection,
  // and hashing it each time was a fifth of a small GET's cost. A revoked token stops
  // working at the same moment either way (when the table is next reloaded).
  [[nodiscard]] Result<Identity> authenticate(std::string_view authorization, Remembered& last);

  Scopes anonymous() const { return m_anonymous; }

private:
  struct Table;
  std::shared_ptr<const Table> current();
  void reload_if_due();     // checks the file at most once a second
  void reload_if_changed(); // with m_reload_mutex held

  TokenFile m_file;
  Scopes m_anonymous;
  // Requests read the table without a lock; one thread at a time checks the file.
  std::atomic<std::shared_ptr<const Table>> m_table;
  std::atomic<std::int64_t> m_checked_at_ms{0};
  std::atomic<std::uint64_t> m_generation{1}; // bumped after each new table is stored
  std::mutex m_reload_mutex;
  std::string m_file_stamp; // guarded by m_reload_mutex
};

} // namespace ingot::server
