#include "sign/narinfo.hpp"

#include "util/base64.hpp"
#include "util/hex.hpp"
#include "util/nix32.hpp"

#include <algorithm>
#include <array>
#include <bitset>
#include <charconv>
#include <unordered_set>

namespace ingot::sign {

namespace {

constexpr std::size_t k_sha256_size = 32;
// Nix's store path hash: 160 bits, 32 nix32 characters.
constexpr std::size_t k_path_hash_chars = nix32_length(20);
// Nix's libstore/path.cc: a name fits a file name together with the hash and the dash.
constexpr std::size_t k_max_name_size = 211;
// Written by old nix versions where the deriver was not known; nix reads it as none.
constexpr std::string_view k_unknown_deriver = "unknown-deriver";

// The keys nix's nar-info.cc reads, in the order its NarInfo::to_string writes them.
enum class Field {
  store_path,
  url,
  compression,
  file_hash,
  file_size,
  nar_hash,
  nar_size,
  references,
  deriver,
  system,
  sig,
  ca,
};
constexpr std::size_t k_field_count = 12;

struct FieldName {
  Field field;
  std::string_view key;
};
constexpr std::array<FieldName, k_field_count> k_fields{{
    {Field::store_path, "StorePath"},
    {Field::url, "URL"},
    {Field::compression, "Compression"},
    {Field::file_hash, "FileHash"},
    {Field::file_size, "FileSize"},
    {Field::nar_hash, "NarHash"},
    {Field::nar_size, "NarSize"},
    {Field::references, "References"},
    {Field::deriver, "Deriver"},
    {Field::system, "System"},
    {Field::sig, "Sig"},
    {Field::ca, "CA"},
}};

// key_of() indexes the table by the enum's value.
constexpr bool table_in_enum_order() {
  for (std::size_t i = 0; i < k_fields.size(); ++i) {
    if (static_cast<std::size_t>(k_fields[i].field) != i) {
      return false;
    }
  }
  return k_fields.size() == static_cast<std::size_t>(Field::ca) + 1;
}
static_assert(table_in_enum_order());

std::optional<Field> field_of(std::string_view key) {
  for (const auto& f : k_fields) {
    if (f.key == key) {
      return f.field;
    }
  }
  return std::nullopt;
}

std::string_view key_of(Field field) {
  return k_fields[static_cast<std::size_t>(field)].key;
}

bool is_nix32_char(char c) {
  return (c >= '0' && c <= '9') ||
         (c >= 'a' && c <= 'z' && c != 'e' && c != 'o' && c != 'u' && c != 't');
}

bool is_name_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' ||
         c == '-' || c == '.' || c == '_' || c == '?' || c == '=';
}

// Keys of lines this parser does not know: kept and written back, so they must not be able to
// carry a ':' or anything that would change how the line reads.
bool is_key_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
         c == '_' || c == '.';
}

bool is_store_path(std::string_view path) {
  const auto slash = path.rfind('/');
  if (slash == std::string_view::npos || slash == 0 || path.front() != '/' ||
      path[slash - 1] == '/') {
    return false;
  }
  return is_store_base_name(path.substr(slash + 1));
}

// A sha256 in any spelling nix's Hash::parseAnyPrefixed reads, as "sha256:<nix32>".
std::optional<std::string> normalize_sha256(std::string_view text) {
  std::optional<std::vector<std::uint8_t>> raw;
  auto from_base64 = [](std::string_view b64) -> std::optional<std::vector<std::uint8_t>> {
    if (b64.size() != (k_sha256_size + 2) / 3 * 4) {
      return std::nullopt;
    }
    const auto decoded = base64_decode(b64);
    if (!decoded || decoded->size() != k_sha256_size) {
      return std::nullopt;
    }
    return std::vector<std::uint8_t>(decoded->begin(), decoded->end());
  };
  if (text.starts_with("sha256:")) {
    const auto rest = text.substr(7);
    if (rest.size() == nix32_length(k_sha256_size)) {
      raw = nix32_decode(rest, k_sha256_size);
    } else if (rest.size() == 2 * k_sha256_size) {
      // Nix reads base16 in either case.
      std::string lower(rest);
      std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
        return (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
      });
      raw = from_hex(lower);
    } else {
      raw = from_base64(rest);
    }
  } else if (text.starts_with("sha256-")) {
    raw = from_base64(text.substr(7)); // SRI
  }
  if (!raw) {
    return std::nullopt;
  }
  return "sha256:" + nix32_encode(*raw);
}

std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size()) {
    return std::nullopt; // out of range
  }
  return value;
}

// The line number (from 1) of the character at `offset`.
std::size_t line_of(std::string_view text, std::size_t offset) {
  return 1 + static_cast<std::size_t>(std::count(
                 text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

Error line_error(std::size_t line, std::string_view what) {
  return make_error(Errc::invalid_argument,
                    "line " + std::to_string(line) + ": " + std::string(what));
}

// One "Key: value" line's value into `info`; the caller has checked the key's count.
std::optional<std::string> apply(Narinfo& info, Field field, std::string_view value) {
  const std::string key(key_of(field));
  // Nix writes none of these fields with an empty value; an empty one would read as absent
  // and so not survive being written back.
  if (value.empty() && field != Field::references) {
    return key + " is empty";
  }
  switch (field) {
  case Field::store_path:
    if (!is_store_path(value)) {
      return "StorePath is not a store path (/nix/store/<32 nix32 chars>-<name>)";
    }
    info.store_path = value;
    return std::nullopt;
  case Field::url:
    info.url = value;
    return std::nullopt;
  case Field::compression:
    info.compression = value;
    return std::nullopt;
  case Field::file_hash:
  case Field::nar_hash: {
    auto hash = normalize_sha256(value);
    if (!hash) {
      return key + " is not a sha256 (sha256:<nix32>, sha256:<hex>, sha256:<base64> or " +
             "sha256-<base64>)";
    }
    (field == Field::nar_hash ? info.nar_hash : info.file_hash) = std::move(*hash);
    return std::nullopt;
  }
  case Field::file_size:
  case Field::nar_size: {
    const auto n = parse_decimal(value);
    if (!n) {
      return key + " is not a number";
    }
    if (field == Field::nar_size) {
      if (*n == 0) {
        return "NarSize is 0; a nar is never empty";
      }
      info.nar_size = *n;
    } else {
      info.file_size = *n;
    }
    return std::nullopt;
  }
  case Field::references: {
    // Nix writes the base names joined by single spaces, and "References: " for none.
    std::size_t start = 0;
    std::size_t index = 1;
    while (start < value.size()) {
      const auto space = value.find(' ', start);
      const auto ref =
          value.substr(start, space == std::string_view::npos ? value.npos : space - start);
      if (!is_store_base_name(ref)) {
        return "reference " + std::to_string(index) +
               " is not a store path base name (<32 nix32 chars>-<name>)";
      }
      info.references.emplace_back(ref);
      if (space == std::string_view::npos) {
        break;
      }
      start = space + 1;
      ++index;
      if (start == value.size()) {
        return "reference list ends with a space";
      }
    }
    return std::nullopt;
  }
  case Field::deriver:
    if (value == k_unknown_deriver) {
      return std::nullopt;
    }
    if (!is_store_base_name(value)) {
      return "Deriver is not a store path base name (<32 nix32 chars>-<name>)";
    }
    info.deriver = value;
    return std::nullopt;
  case Field::system:
    info.system = value;
    return std::nullopt;
  case Field::sig: {
    // nix 2.8 fails a whole substitution on a Sig under a trusted key's name that does not
    // decode to 64 bytes, rather than skip it: such a narinfo is malformed.
    const auto colon = value.find(':');
    const auto bytes = colon == 0 || colon == std::string_view::npos
                           ? std::nullopt
                           : base64_decode(value.substr(colon + 1));
    if (!bytes || bytes->size() != 64) {
      return "Sig is not <key name>:<base64 of a 64-byte Ed25519 signature>";
    }
    info.sigs.emplace_back(value);
    return std::nullopt;
  }
  case Field::ca:
    info.ca = value;
    return std::nullopt;
  }
  return std::nullopt; // not reached: every Field is a case above
}

} // namespace

Result<Narinfo> parse_narinfo(std::string_view text) {
  // Nix splits lines at '\n' only, so a CR would end up inside a value (a store path, a hash)
  // and make it wrong in a way that is hard to see: refuse it outright.
  if (const auto cr = text.find('\r'); cr != std::string_view::npos) {
    return line_error(line_of(text, cr), "carriage return (narinfo lines end with LF only)");
  }
  if (!text.empty() && text.back() != '\n') {
    return line_error(line_of(text, text.size() - 1), "no newline at the end of the narinfo");
  }

  Narinfo info;
  std::bitset<k_field_count> seen;
  std::unordered_set<std::string_view> other_keys;
  std::size_t line_number = 0;
  // Each round consumes one line, up to and including its '\n' (the text ends with one).
  for (std::size_t pos = 0; pos < text.size();) {
    ++line_number;
    const auto eol = text.find('\n', pos);
    const auto line = text.substr(pos, eol - pos);
    pos = eol + 1;

    if (line.empty()) {
      return line_error(line_number, "empty line");
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon + 1 >= line.size() || line[colon + 1] != ' ') {
      return line_error(line_number, "not a 'Key: value' line");
    }
    const auto key = line.substr(0, colon);
    const auto value = line.substr(colon + 2);
    if (key.empty() || !std::all_of(key.begin(), key.end(), is_key_char)) {
      return line_error(line_number, "the key is not made of letters, digits, '-', '_' or '.'");
    }

    const auto field = field_of(key);
    if (!field) {
      if (!other_keys.insert(key).second) {
        return line_error(line_number, std::string(key) + " appears twice");
      }
      info.other.emplace_back(key, value);
      continue;
    }
    const auto bit = static_cast<std::size_t>(*field);
    if (seen[bit] && *field != Field::sig) {
      return line_error(line_number, std::string(key) + " appears twice");
    }
    seen[bit] = true;
    if (auto problem = apply(info, *field, value)) {
      return line_error(line_number, *problem);
    }
  }

  for (const Field required : {Field::store_path, Field::url, Field::nar_hash, Field::nar_size}) {
    if (!seen[static_cast<std::size_t>(required)]) {
      return make_error(Errc::invalid_argument,
                        "the narinfo has no " + std::string(key_of(required)) + " line");
    }
  }
  return info;
}

std::string render_narinfo(const Narinfo& info, std::span<const std::string> sigs) {
  std::string out;
  auto line = [&out](std::string_view key, std::string_view value) {
    out.append(key).append(": ").append(value).push_back('\n');
  };
  // Nix's NarInfo::to_string always writes Compression, FileHash and FileSize (it asserts
  // they are set); a Narinfo without them can only omit them.
  line("StorePath", info.store_path);
  line("URL", info.url);
  if (!info.compression.empty()) {
    line("Compression", info.compression);
  }
  if (!info.file_hash.empty()) {
    line("FileHash", info.file_hash);
  }
  if (info.file_size) {
    line("FileSize", std::to_string(*info.file_size));
  }
  line("NarHash", info.nar_hash);
  line("NarSize", std::to_string(info.nar_size));
  out.append("References: ");
  for (std::size_t i = 0; i < info.references.size(); ++i) {
    if (i > 0) {
      out.push_back(' ');
    }
    out.append(info.references[i]);
  }
  out.push_back('\n');
  if (!info.deriver.empty()) {
    line("Deriver", info.deriver);
  }
  if (!info.system.empty()) {
    line("System", info.system);
  }
  for (const auto& sig : sigs) {
    line("Sig", sig);
  }
  if (!info.ca.empty()) {
    line("CA", info.ca);
  }
  for (const auto& [key, value] : info.other) {
    line(key, value);
  }
  return out;
}

std::string_view store_dir(std::string_view store_path) {
  const auto slash = store_path.rfind('/');
  return slash == std::string_view::npos ? std::string_view{} : store_path.substr(0, slash);
}

std::string_view hash_part(std::string_view path_or_base_name) {
  const auto slash = path_or_base_name.rfind('/');
  const auto base =
      slash == std::string_view::npos ? path_or_base_name : path_or_base_name.substr(slash + 1);
  if (base.size() <= k_path_hash_chars || base[k_path_hash_chars] != '-') {
    return {};
  }
  const auto hash = base.substr(0, k_path_hash_chars);
  return std::all_of(hash.begin(), hash.end(), is_nix32_char) ? hash : std::string_view{};
}

bool is_store_base_name(std::string_view base_name) {
  if (hash_part(base_name).empty() || base_name.find('/') != std::string_view::npos) {
    return false;
  }
  const auto name = base_name.substr(k_path_hash_chars + 1);
  return !name.empty() && name.size() <= k_max_name_size && name.front() != '.' &&
         std::all_of(name.begin(), name.end(), is_name_char);
}

std::string narinfo_fingerprint(const Narinfo& info) {
  // Nix signs its StorePathSet: sorted, without duplicates. With one store dir, sorting the
  // full paths is sorting the base names.
  std::vector<std::string_view> refs(info.references.begin(), info.references.end());
  std::sort(refs.begin(), refs.end());
  refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
  const auto dir = store_dir(info.store_path);

  std::string out =
      "1;" + info.store_path + ";" + info.nar_hash + ";" + std::to_string(info.nar_size) + ";";
  for (std::size_t i = 0; i < refs.size(); ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    out.append(dir).append("/").append(refs[i]);
  }
  return out;
}

std::string nix_signature(const SecretKey& key, std::string_view fingerprint) {
  const Signature sig = key.sign(as_bytes(fingerprint));
  return key.public_key().name + ":" + base64_encode(sig);
}

bool verify_nix_signature(const PublicKey& key, std::string_view fingerprint,
                          std::string_view sig) {
  // Nix looks the key up by the name before the ':'; another name is another key's signature.
  const auto colon = sig.find(':');
  if (colon == std::string_view::npos || sig.substr(0, colon) != key.name) {
    return false;
  }
  const auto raw = base64_decode(sig.substr(colon + 1));
  if (!raw || raw->size() != Signature{}.size()) {
    return false;
  }
  Signature signature{};
  std::copy(raw->begin(), raw->end(), signature.begin());
  return verify(key, as_bytes(fingerprint), signature);
}

Result<PublicKey> parse_nix_public_key(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return make_error(Errc::invalid_argument,
                      "a Nix public key is <key name>:<base64 of 32 bytes>, as in "
                      "trusted-public-keys");
  }
  const auto raw = base64_decode(text.substr(colon + 1));
  PublicKey key;
  if (!raw || raw->size() != key.key.size()) {
    return make_error(Errc::invalid_argument, "the Nix public key '" +
                                                  std::string(text.substr(0, colon)) +
                                                  "' is not the base64 of 32 bytes");
  }
  key.name = text.substr(0, colon);
  std::copy(raw->begin(), raw->end(), key.key.begin());
  return key;
}

} // namespace ingot::sign
