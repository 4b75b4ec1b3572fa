#include "server/auth.hpp"

#include "server/http_fields.hpp"
#include "util/base64.hpp"
#include "util/file_io.hpp"
#include "util/hex.hpp"

#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <openssl/rand.h>

namespace ingot::server {

namespace {

constexpr std::string_view k_token_prefix = "ingot_";

struct ScopeName {
  Scope scope;
  std::string_view name;
};
constexpr ScopeName k_scope_names[] = {{k_scope_read, "read"},
                                       {k_scope_write, "write"},
                                       {k_scope_sign, "sign"},
                                       {k_scope_admin, "admin"}};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string hash_token(std::string_view token) {
  return cas::digest_of(token).hex();
}

Result<std::vector<TokenRecord>> read_tokens(const std::filesystem::path& path) {
  std::vector<TokenRecord> out;
  std::ifstream in(path);
  if (!in) {
    return out; // no tokens yet
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) {
      continue;
    }
    try {
      const auto j = nlohmann::json::parse(line);
      TokenRecord r;
      r.id = j.at("id").get<std::string>();
      r.name = j.at("name").get<std::string>();
      r.hash_hex = j.at("sha256").get<std::string>();
      r.created_unix_s = j.at("created").get<std::int64_t>();
      auto scopes = parse_scopes(j.at("scopes").get<std::string>());
      if (!scopes) {
        return make_error(Errc::corrupt, path.string() + ":" + std::to_string(number) + ": " +
                                             scopes.error().message);
      }
      r.scopes = *scopes;
      out.push_back(std::move(r));
    } catch (const nlohmann::json::exception& e) {
      return make_error(Errc::corrupt,
                        path.string() + ":" + std::to_string(number) + ": " + e.what());
    }
  }
  return out;
}

Result<void> write_tokens(const std::filesystem::path& path,
                          const std::vector<TokenRecord>& tokens) {
  std::ostringstream text;
  for (const auto& r : tokens) {
    nlohmann::json j{{"id", r.id},
                     {"name", r.name},
                     {"scopes", scopes_to_string(r.scopes)},
                     {"sha256", r.hash_hex},
                     {"created", r.created_unix_s}};
    text << j.dump() << '\n';
  }
  const auto temp = path.string() + ".new";
  auto fd = open_file(temp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (!fd) {
    return std::move(fd).error();
  }
  INGOT_TRY(write_all(fd->get(), as_bytes(text.str()), temp));
  INGOT_TRY(fsync_fd(fd->get(), temp));
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return errno_error(errno, "cannot replace " + path.string());
  }
  return {};
}

// Holds tokens.lock for one read-modify-write of the tokens file.
Result<UniqueFd> lock_tokens(const std::filesystem::path& lock_path) {
  auto fd = open_file(lock_path, O_RDWR | O_CREAT, 0600);
  if (!fd) {
    return std::move(fd).error();
  }
  if (::flock(fd->get(), LOCK_EX) != 0) {
    return errno_error(errno, "cannot lock " + lock_path.string());
  }
  return fd;
}

} // namespace

Result<Scopes> parse_scopes(std::string_view csv) {
  Scopes scopes = 0;
  std::size_t start = 0;
  while (start <= csv.size()) {
    const auto comma = csv.find(',', start);
    const auto word = csv.substr(start, comma == std::string_view::npos ? comma : comma - start);
    bool known = false;
    for (const auto& s : k_scope_names) {
      if (word == s.name) {
        scopes |= s.scope;
        known = true;
      }
    }
    if (!known) {
      return make_error(Errc::invalid_argument, "unknown scope '" + std::string(word) +
                                                    "'; scopes are read, write, sign, admin");
    }
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  return scopes;
}

std::string scopes_to_string(Scopes scopes) {
  std::string out;
  for (const auto& s : k_scope_names) {
    if ((scopes & s.scope) != 0) {
      out += out.empty() ? "" : ",";
      out += s.name;
    }
  }
  return out;
}

bool grants(Scopes held, Scopes needed) {
  return (held & k_scope_admin) != 0 || (held & needed) == needed;
}

TokenFile::TokenFile(const std::filesystem::path& data_dir)
    : m_path(data_dir / "tokens"), m_lock_path(data_dir / "tokens.lock") {}

Result<std::pair<std::string, TokenRecord>> TokenFile::create(const std::string& name,
                                                              Scopes scopes) {
  if (name.empty() || name.size() > 128) {
    return make_error(Errc::invalid_argument, "token name must be 1 to 128 characters");
  }
  std::array<std::uint8_t, 32> secret{};
  if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
    return make_error(Errc::io, "cannot get random bytes for a token from OpenSSL");
  }
  std::error_code ec;
  std::filesystem::create_directories(m_path.parent_path(), ec);
  auto lock = lock_tokens(m_lock_path);
  if (!lock) {
    return std::move(lock).error();
  }
  auto tokens = read_tokens(m_path);
  if (!tokens) {
    return std::move(tokens).error();
  }
  const std::string token = std::string(k_token_prefix) + base64url_encode(secret);
  TokenRecord r;
  r.hash_hex = hash_token(token);
  r.id = r.hash_hex.substr(0, 12);
  r.name = name;
  r.scopes = scopes;
  r.created_unix_s = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  tokens->push_back(r);
  INGOT_TRY(write_tokens(m_path, *tokens));
  return std::pair{token, r};
}

Result<std::vector<TokenRecord>> TokenFile::list() const {
  return read_tokens(m_path);
}

Result<TokenRecord> TokenFile::revoke(std::string_view id_or_name) {
  auto lock = lock_tokens(m_lock_path);
  if (!lock) {
    return std::move(lock).error();
  }
  auto tokens = read_tokens(m_path);
  if (!tokens) {
    return std::move(tokens).error();
  }
  std::vector<std::size_t> matches;
  for (std::size_t i = 0; i < tokens->size(); ++i) {
    if ((*tokens)[i].id == id_or_name || (*tokens)[i].name == id_or_name) {
      matches.push_back(i);
    }
  }
  if (matches.empty()) {
    return make_error(Errc::not_found, "no token with id or name '" + std::string(id_or_name) +
                                           "' (see `ingot token list`)");
  }
  if (matches.size() > 1) {
    return make_error(Errc::invalid_argument,
                      "several tokens are named '" + std::string(id_or_name) + "'; revoke by id");
  }
  TokenRecord revoked = (*tokens)[matches[0]];
  tokens->erase(tokens->begin() + static_cast<long>(matches[0]));
  INGOT_TRY(write_tokens(m_path, *tokens));
  return revoked;
}

struct Authenticator::Table {
  std::unordered_map<std::string, TokenRecord> by_hash;
};

Authenticator::Authenticator(const std::filesystem::path& data_dir, Scopes anonymous)
    : m_file(data_dir), m_anonymous(anonymous), m_table(std::make_shared<Table>()) {
  // Loaded before the first request, so no request ever sees an empty table by accident.
  std::lock_guard lock(m_reload_mutex);
  reload_if_changed();
  m_checked_at_ms = now_ms();
}

std::shared_ptr<const Authenticator::Table> Authenticator::current() {
  reload_if_due();
  return m_table.load();
}

void Authenticator::reload_if_due() {
  const auto now = now_ms();
  const auto checked = m_checked_at_ms.load(std::memory_order_relaxed);
  if (now - checked < 1000) {
    return;
  }
  // Another thread checking the file right now serves everyone else the current table.
  std::unique_lock lock(m_reload_mutex, std::try_to_lock);
  if (lock && m_checked_at_ms.load() == checked) {
    reload_if_changed();
    m_checked_at_ms = now;
  }
}

void Authenticator::reload_if_changed() {
  struct stat st {};
  std::string stamp;
  if (::stat(m_file.path().c_str(), &st) == 0) {
    stamp = std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
            std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
  }
  if (stamp == m_file_stamp) {
    return;
  }
  auto tokens = m_file.list();
  // A tokens file that cannot be read keeps the last good table rather than locking
  // everyone out; the next change to the file is picked up again.
  if (tokens) {
    auto table = std::make_shared<Table>();
    for (auto& r : *tokens) {
      table->by_hash.emplace(r.hash_hex, std::move(r));
    }
    m_table.store(std::move(table));
    m_generation.fetch_add(1, std::memory_order_release);
    m_file_stamp = stamp;
  }
}

Result<Authenticator::Identity> Authenticator::authenticate(std::string_view authorization) {
  if (authorization.empty()) {
    return Identity{m_anonymous, false, {}};
  }
  std::string token;
  // RFC 9110 11.1: the scheme is case-insensitive.
  const auto scheme_is = [authorization](std::string_view scheme) {
    return authorization.size() > scheme.size() && authorization[scheme.size()] == ' ' &&
           iequals(authorization.substr(0, scheme.size()), scheme);
  };
  if (scheme_is("Bearer")) {
    token = authorization.substr(7);
  } else if (scheme_is("Basic")) {
    auto decoded = base64_decode(authorization.substr(6));
    const auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      return make_error(Errc::unauthorized, "malformed Basic credentials");
    }
    token = decoded->substr(colon + 1);
  } else {
    return make_error(Errc::unauthorized, "unsupported Authorization scheme; use Bearer or Basic");
  }
  const auto hash = hash_token(token);
  auto table = current();
  auto it = table->by_hash.find(hash);
  if (it == table->by_hash.end()) {
    // Perhaps created a moment ago (`ingot token create` while serving): look at the file
    // now rather than refusing it until the next periodic check. A stat when nothing changed.
    std::lock_guard lock(m_reload_mutex);
    reload_if_changed();
    table = m_table.load();
    it = table->by_hash.find(hash);
  }
  if (it == table->by_hash.end()) {
    return make_error(Errc::unauthorized, "unknown or revoked token");
  }
  return Identity{it->second.scopes, true, it->second.name};
}

Result<Authenticator::Identity> Authenticator::authenticate(std::string_view authorization,
                                                            Remembered& last) {
  reload_if_due();
  // Read before the lookup: a table newer than the generation recorded only makes the next
  // request look again.
  const auto generation = m_generation.load(std::memory_order_acquire);
  if (!authorization.empty() && last.generation == generation &&
      last.authorization == authorization) {
    return last.identity;
  }
  auto identity = authenticate(authorization);
  if (identity && identity->presented) {
    last.authorization.assign(authorization);
    last.generation = generation;
    last.identity = *identity;
  }
  return identity;
}

} // namespace ingot::server
