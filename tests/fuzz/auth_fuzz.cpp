// Authorization header values ("Bearer T", "Basic base64(user:T)") against a real tokens file
// holding one token, and base64 on the same bytes.
#include "fuzz_support.hpp"
#include "server/auth.hpp"
#include "util/base64.hpp"

using namespace ingot;
using namespace ingot::server;

namespace {

struct Fixture {
  std::filesystem::path dir = fuzz::scratch_dir() / "auth";
  std::string token;
  Scopes scopes = k_scope_read | k_scope_write;
  std::unique_ptr<Authenticator> auth;

  Fixture() {
    std::filesystem::create_directories(dir);
    auto created = TokenFile(dir).create("fuzz", scopes);
    FUZZ_CHECK(created);
    token = created->first;
    auth = std::make_unique<Authenticator>(dir, k_scope_read);
    // The fixture itself must work, or the fuzzer explores nothing.
    auto bearer = auth->authenticate("Bearer " + token);
    FUZZ_CHECK(bearer && bearer->presented && bearer->scopes == scopes);
    auto basic = auth->authenticate("Basic " + base64_encode(as_bytes("ccache:" + token)));
    FUZZ_CHECK(basic && basic->presented && basic->scopes == scopes);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void check_base64(std::string_view text) {
  const auto encoded = base64_encode(as_bytes(text));
  FUZZ_CHECK(encoded.size() == (text.size() + 2) / 3 * 4);
  FUZZ_CHECK(base64_decode(encoded) == std::string(text));
  FUZZ_CHECK(base64url_encode(as_bytes(text)).size() == (text.size() * 4 + 2) / 3);
  if (const auto decoded = base64_decode(text)) {
    FUZZ_CHECK(text.size() % 4 == 0);
    FUZZ_CHECK(decoded->size() <= text.size() / 4 * 3 &&
               decoded->size() + 2 >= text.size() / 4 * 3);
    FUZZ_CHECK(base64_decode(base64_encode(as_bytes(*decoded))) == *decoded);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& f = fixture();
  const std::string_view header(reinterpret_cast<const char*>(data), size);
  check_base64(header);

  auto identity = f.auth->authenticate(header);
  if (header.empty()) {
    FUZZ_CHECK(identity && !identity->presented && identity->scopes == k_scope_read);
  } else if (identity) {
    // Only the one token opens anything, and it grants exactly its scopes.
    FUZZ_CHECK(identity->presented && identity->scopes == f.scopes && identity->name == "fuzz");
  } else {
    FUZZ_CHECK(identity.error().code == Errc::unauthorized);
  }

  // The per-connection cache answers as the table does, the first time and the second.
  Authenticator::Remembered last;
  for (int i = 0; i < 2; ++i) {
    auto again = f.auth->authenticate(header, last);
    FUZZ_CHECK(again.has_value() == identity.has_value());
    if (again) {
      FUZZ_CHECK(again->scopes == identity->scopes && again->presented == identity->presented);
    }
  }
  return 0;
}
