// Signed releases: a manifest of artifacts already in the CAS, published once and never
// changed, with SHA256SUMS, its minisign signature and a signify SHA256.sig made by the
// server's key; the whole set pinned. ARCHITECTURE.md "Signing".
#pragma once

#include "cas/store.hpp"
#include "server/api.hpp"
#include "server/route.hpp"
#include "sign/keys.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ingot::server {

// fsck (server/pin_fsck.cpp): which release a pin set belongs to, and the file it holds `blob`
// as (an artifact, or SHA256SUMS and its signatures). nullopt when `pin_set` is not a
// release's ("release/P/V") or its record does not name the blob.
struct ReleaseNeed {
  std::string project;
  std::string version;
  std::string file;
};
[[nodiscard]] Result<std::optional<ReleaseNeed>>
release_need(cas::Store& store, std::string_view pin_set, const cas::Hash& blob);

class Releases {
public:
  // Loads the signing keys (the first signs; every one is published, the others as retired)
  // and the append-only audit log DATA_DIR/audit.log. A key file others may read is refused.
  [[nodiscard]] static Result<std::unique_ptr<Releases>>
  open(const std::vector<std::filesystem::path>& key_files, const std::filesystem::path& data_dir);
  ~Releases();
  Releases(const Releases&) = delete;
  Releases& operator=(const Releases&) = delete;

  // PUT /v1/releases/P/V with {"artifacts":[{"name":N,"digest":"<hex>/<size>"}…]}: 201 and the
  // record; 409 when V exists; 400 naming an artifact that is not stored or a bad name.
  SimpleResponse publish(cas::Store& store, const Route& route, std::string_view body,
                         std::string_view who);
  // GET /v1/releases/P (the versions) and /v1/releases/P/V (the record).
  SimpleResponse get(cas::Store& store, const Route& route);
  // POST /v1/releases/P/V:yank with an optional {"reason": "…"}: marked, kept, still signed.
  SimpleResponse yank(cas::Store& store, const Route& route, std::string_view body,
                      std::string_view who);
  // GET /v1/keys and GET /v1/audit.
  SimpleResponse keys() const;
  SimpleResponse audit() const;
  // Appends an entry to the audit log (fsynced) for another operation that must be accounted
  // for (a mirror override): `fields` are its string fields besides the time.
  [[nodiscard]] Result<void>
  append_audit(std::string_view action,
               const std::vector<std::pair<std::string, std::string>>& fields);

  // The keys from --signing-key, the active one first. Live as long as this.
  std::span<const sign::SecretKey> signing_keys() const;

  // True for /v1/releases/P/V/NAME, whose answer is the blob file_digest() names.
  static bool is_file(const Route& route);
  [[nodiscard]] Result<cas::Digest> file_digest(cas::Store& store, const Route& route);

private:
  struct Impl;
  explicit Releases(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

} // namespace ingot::server
