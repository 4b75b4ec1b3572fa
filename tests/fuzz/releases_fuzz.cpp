// Release names, checksum lists and publish bodies. Input: a mode byte, then
//   0: a project/version name line, then an artifact name;
//   1: a SHA256SUMS or BSD-style checksum list;
//   2: a release path line (below /v1/releases/), then a publish body (JSON).
#include "cas/digest.hpp"
#include "fuzz_support.hpp"
#include "server/releases.hpp"
#include "sign/keys.hpp"
#include "sign/release_files.hpp"

#include <nlohmann/json.hpp>

using namespace ingot;
using namespace ingot::server;

namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '+' || c == '-';
}

Releases& releases() {
  static std::unique_ptr<Releases> r = [] {
    const auto dir = fuzz::scratch_dir() / "releases";
    std::filesystem::create_directories(dir);
    auto key = sign::generate_key("fuzz");
    FUZZ_CHECK(key && sign::write_key_files(*key, dir));
    auto opened = Releases::open({dir / "fuzz.key"}, dir);
    FUZZ_CHECK(opened);
    return std::move(*opened);
  }();
  return *r;
}

void check_names(std::string_view release_name, std::string_view artifact) {
  if (sign::check_release_name(release_name, "project")) {
    FUZZ_CHECK(!release_name.empty() && release_name.size() <= 128);
    for (const char c : release_name) {
      FUZZ_CHECK(name_char(c));
    }
  }
  if (!sign::check_artifact_name(artifact)) {
    return;
  }
  // A safe name: relative, no '.' or '..' component, nothing a shell or a checksum line
  // would read otherwise; it survives both checksum formats unchanged.
  FUZZ_CHECK(!artifact.empty() && artifact.front() != '/' && artifact.back() != '/');
  FUZZ_CHECK(artifact.find("//") == std::string_view::npos);
  const sign::Artifact a{std::string(artifact), cas::digest_of(artifact)};
  for (const auto& parsed : {sign::parse_sha256sums(sign::sha256sums({a})),
                             sign::parse_bsd_checksums(sign::bsd_checksums({a}))}) {
    FUZZ_CHECK(parsed && parsed->size() == 1);
    FUZZ_CHECK((*parsed)[0].name == artifact && (*parsed)[0].hash == a.digest.hash);
  }
}

void check_lists(std::string_view text) {
  for (const bool bsd : {false, true}) {
    auto parsed = bsd ? sign::parse_bsd_checksums(text) : sign::parse_sha256sums(text);
    if (!parsed) {
      FUZZ_CHECK(parsed.error().code == Errc::invalid_argument);
      continue;
    }
    // Every name is safe, and writing the list again reads back the same files.
    std::vector<sign::Artifact> artifacts;
    for (const auto& f : *parsed) {
      FUZZ_CHECK(sign::check_artifact_name(f.name));
      artifacts.push_back({f.name, cas::Digest{f.hash, 0}});
    }
    auto again = bsd ? sign::parse_bsd_checksums(sign::bsd_checksums(artifacts))
                     : sign::parse_sha256sums(sign::sha256sums(artifacts));
    FUZZ_CHECK(again && again->size() == parsed->size());
  }
}

void check_publish(std::string_view path, std::string_view body) {
  auto route = parse_route("/v1/releases/" + std::string(path));
  if (!route || route->kind != RouteKind::releases) {
    return;
  }
  auto& st = fuzz::store();
  const auto r = releases().publish(st, *route, body, "fuzz");
  if (r.status != 201) {
    FUZZ_CHECK(r.status == 400 || r.status == 409 || r.status == 413 || r.status == 404);
    FUZZ_CHECK(!r.body.empty() && r.body.find('\n') == r.body.size() - 1);
    return;
  }
  // Published: the record is there, and every artifact is a file of the release.
  const auto got = releases().get(st, *route);
  FUZZ_CHECK(got.status == 200);
  const auto record = nlohmann::json::parse(body, nullptr, false);
  for (const auto& a : record["artifacts"]) {
    auto file = parse_route("/v1/releases/" + route->key + "/" + a["name"].get<std::string>());
    FUZZ_CHECK(file && Releases::is_file(*file));
    auto digest = releases().file_digest(st, *file);
    FUZZ_CHECK(digest && *digest == cas::parse_digest_text(a["digest"].get<std::string>()).value());
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  switch (in.byte() % 3) {
  case 0: {
    const auto name = in.line();
    check_names(name, in.rest());
    break;
  }
  case 1:
    check_lists(in.rest());
    break;
  default: {
    const auto path = in.line();
    check_publish(path, in.rest());
    break;
  }
  }
  return 0;
}
