#include "client/release.hpp"

#include "client/parallel.hpp"
#include "client/tree.hpp"
#include "sign/minisign.hpp"
#include "sign/release_files.hpp"
#include "sign/signify.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace ingot::client {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Artifacts = std::vector<Client::ReleaseArtifact>;

// Releases are published once: a 409 for the very same artifacts is a retry whose first
// answer was lost, and counts as done.
Result<std::string> publish(Client& client, const std::string& project, const std::string& version,
                            const Artifacts& artifacts) {
  auto record = client.publish_release(project, version, artifacts);
  if (record || record.error().code != Errc::busy) {
    return record;
  }
  auto existing = client.get_release(project, version);
  if (!existing) {
    return std::move(record).error();
  }
  const json j = json::parse(*existing, nullptr, false);
  std::map<std::string, std::string> theirs;
  std::map<std::string, std::string> ours;
  if (!j.is_discarded() && j.contains("artifacts")) {
    for (const auto& a : j["artifacts"]) {
      theirs[a.value("name", "")] = a.value("digest", "");
    }
  }
  for (const auto& a : artifacts) {
    ours[a.name] = a.digest.to_string();
  }
  return theirs == ours ? Result<std::string>(std::move(*existing))
                        : Result<std::string>(std::move(record).error());
}

Result<std::string> read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return make_error(Errc::not_found, "cannot read " + file.string());
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<void> write_text(const fs::path& file, std::string_view text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    return make_error(Errc::io, "cannot write " + file.string());
  }
  return {};
}

// Both signatures, checked against `key`: the listed files, by name, with their hashes.
Result<std::pair<std::string, std::vector<sign::ListedFile>>>
check_signatures(const sign::PublicKey& key, std::string_view sums, std::string_view minisig,
                 std::string_view signify) {
  // Any signature that does not verify, whatever the reason (another key, a malformed file,
  // an edit), is a failed verification: Errc::corrupt, exit 4 in the CLI.
  auto verified = sign::minisign_verify(key, as_bytes(sums), minisig);
  if (!verified) {
    return make_error(Errc::corrupt,
                      std::string(sign::k_minisig_file) + ": " + verified.error().message);
  }
  auto listed = sign::parse_sha256sums(sums);
  if (!listed) {
    return make_error(Errc::corrupt,
                      std::string(sign::k_sums_file) + ": " + listed.error().message);
  }
  auto message = sign::signify_verify_embedded(key, signify);
  if (!message) {
    return make_error(Errc::corrupt,
                      std::string(sign::k_signify_file) + ": " + message.error().message);
  }
  auto bsd = sign::parse_bsd_checksums(*message);
  if (!bsd) {
    return make_error(Errc::corrupt,
                      std::string(sign::k_signify_file) + ": " + bsd.error().message);
  }
  const auto as_set = [](const std::vector<sign::ListedFile>& files) {
    std::set<std::pair<std::string, cas::Hash>> out;
    for (const auto& f : files) {
      out.insert({f.name, f.hash});
    }
    return out;
  };
  if (as_set(*listed) != as_set(*bsd)) {
    return make_error(Errc::corrupt, std::string(sign::k_signify_file) + " and " +
                                         std::string(sign::k_sums_file) +
                                         " list different files or hashes");
  }
  return std::pair{verified->trusted_comment, std::move(*listed)};
}

// The three signature files, read by `read` (from a directory or from the server) and checked
// against `key`; `texts` keeps them as they were read.
using SignatureTexts = std::array<std::string, 3>;
constexpr std::array<std::string_view, 3> k_signature_files = {
    sign::k_sums_file, sign::k_minisig_file, sign::k_signify_file};

Result<std::pair<std::string, std::vector<sign::ListedFile>>>
read_and_check(const sign::PublicKey& key, SignatureTexts& texts,
               const std::function<Result<std::string>(std::string_view)>& read) {
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto text = read(k_signature_files[i]);
    if (!text) {
      return std::move(text).error();
    }
    texts[i] = std::move(*text);
  }
  return check_signatures(key, texts[0], texts[1], texts[2]);
}
} // namespace

Result<std::string> publish_files(Client& client, const std::string& project,
                                  const std::string& version, const std::vector<fs::path>& files) {
  Artifacts artifacts(files.size());
  auto hashed = parallel_for(files.size(), client.options().parallelism, [&](std::size_t i) {
    auto digest = digest_file(files[i]);
    if (!digest) {
      return Result<void>(std::move(digest).error());
    }
    artifacts[i] = {files[i].filename().string(), *digest};
    return Result<void>();
  });
  if (!hashed) {
    return std::move(hashed).error();
  }
  std::set<std::string> names;
  std::vector<cas::Digest> digests;
  for (const auto& a : artifacts) {
    if (!names.insert(a.name).second) {
      return make_error(Errc::invalid_argument,
                        "two files are named '" + a.name + "'; a release names each once");
    }
    if (auto ok = sign::check_artifact_name(a.name); !ok) {
      return ok.error();
    }
    digests.push_back(a.digest);
  }
  auto missing = client.find_missing(digests);
  if (!missing) {
    return std::move(missing).error();
  }
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < artifacts.size(); ++i) {
    if (std::find(missing->begin(), missing->end(), artifacts[i].digest) != missing->end()) {
      todo.push_back(i);
    }
  }
  auto sent = parallel_for(todo.size(), client.options().parallelism, [&](std::size_t k) {
    return client.put_file(artifacts[todo[k]].digest, files[todo[k]]);
  });
  if (!sent) {
    return std::move(sent).error();
  }
  return publish(client, project, version, artifacts);
}

Result<std::string> publish_ref(Client& client, const std::string& project,
                                const std::string& version, const std::string& ref) {
  auto info = client.get_ref(ref);
  if (!info) {
    return std::move(info).error();
  }
  auto tree = client.get_tree(info->digest);
  if (!tree) {
    return std::move(tree).error();
  }
  auto plan = plan_tree(*tree, info->digest, EscapingSymlinks::allow);
  if (!plan) {
    return std::move(plan).error();
  }
  if (!plan->symlinks.empty()) {
    const auto& link = plan->symlinks.front();
    return make_error(Errc::invalid_argument,
                      "ref '" + ref + "' names a tree with symlink " + link.path + " -> " +
                          link.target +
                          ": a release is regular files listed in SHA256SUMS, which has no "
                          "line for a symlink; replace it with the file it points to, or "
                          "publish the files by name");
  }
  if (plan->files.empty()) {
    return make_error(Errc::invalid_argument, "ref '" + ref + "' names a tree with no files");
  }
  Artifacts artifacts;
  for (const auto& f : plan->files) {
    artifacts.push_back({f.path, f.digest});
  }
  return publish(client, project, version, artifacts);
}

Result<VerifiedRelease> verify_release_dir(const fs::path& dir, const sign::PublicKey& key) {
  SignatureTexts texts;
  auto checked =
      read_and_check(key, texts, [&](std::string_view name) { return read_text(dir / name); });
  if (!checked) {
    return std::move(checked).error();
  }
  VerifiedRelease out;
  out.trusted_comment = checked->first;
  std::string problems;
  for (const auto& f : checked->second) {
    auto digest = digest_file(dir / f.name);
    if (!digest) {
      problems += "\n  " + f.name + ": " + digest.error().message;
    } else if (digest->hash != f.hash) {
      problems += "\n  " + f.name + ": SHA-256 " + digest->hex() + ", but " +
                  std::string(sign::k_sums_file) + " says " + cas::Digest{f.hash, 0}.hex();
    } else {
      ++out.files;
      out.bytes += digest->size;
    }
  }
  if (!problems.empty()) {
    return make_error(Errc::corrupt, "release in " + dir.string() +
                                         " does not match its signed checksums:" + problems);
  }
  return out;
}

Result<VerifiedRelease> fetch_release(Client& client, const std::string& project,
                                      const std::string& version, const fs::path& out,
                                      const sign::PublicKey& key, Yanked yanked) {
  auto record = client.get_release(project, version);
  if (!record) {
    return std::move(record).error();
  }
  const json j = json::parse(*record, nullptr, false);
  std::optional<std::string> yank_reason;
  if (!j.is_discarded() && j.is_object() && j.contains("yanked") && j["yanked"].is_object()) {
    yank_reason = j["yanked"].value("reason", "");
  }
  if (yank_reason && yanked == Yanked::refuse) {
    return make_error(Errc::not_found,
                      "release " + project + " " + version + " was yanked (" +
                          (yank_reason->empty() ? "no reason given" : "reason: " + *yank_reason) +
                          "); pass --allow-yanked to fetch it anyway");
  }
  // Nothing is downloaded, or written, before the signatures check out.
  SignatureTexts texts;
  auto checked = read_and_check(key, texts, [&](std::string_view name) {
    return client.release_file(project, version, name);
  });
  if (!checked) {
    return std::move(checked).error();
  }
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) {
    return make_error(Errc::io, "cannot create " + out.string() + ": " + ec.message());
  }
  for (std::size_t i = 0; i < texts.size(); ++i) {
    INGOT_TRY(write_text(out / k_signature_files[i], texts[i]));
  }
  const auto& files = checked->second;
  auto fetched = parallel_for(files.size(), client.options().parallelism, [&](std::size_t i) {
    const auto target = out / files[i].name;
    std::error_code mkdir_error;
    fs::create_directories(target.parent_path(), mkdir_error);
    auto r = client.get_to_file(cas::Digest{files[i].hash, 0}, target);
    if (!r) {
      return Result<void>(make_error(r.error().code, files[i].name + ": " + r.error().message));
    }
    return Result<void>();
  });
  if (!fetched) {
    return std::move(fetched).error();
  }
  auto verified = verify_release_dir(out, key);
  if (verified) {
    verified->yank_reason = std::move(yank_reason);
  }
  return verified;
}

} // namespace ingot::client
