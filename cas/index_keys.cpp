// The index's key formats: the eviction order, back references, pending blob files.
#include "cas/index_rocks.hpp"

namespace ingot::cas {

std::string lru_key(std::int64_t tick, const Hash& h) {
  std::string key(8 + h.size(), '\0');
  const auto t = static_cast<std::uint64_t>(tick);
  for (int i = 0; i < 8; ++i) {
    key[static_cast<std::size_t>(i)] = static_cast<char>((t >> (56 - 8 * i)) & 0xff);
  }
  std::memcpy(key.data() + 8, h.data(), h.size());
  return key;
}

std::string back_reference_key(const Hash& h, Namespace ns, std::string_view key) {
  std::string out(reinterpret_cast<const char*>(h.data()), h.size());
  out.push_back(static_cast<char>(ns));
  out.append(key);
  return out;
}

std::string pending_key(const Hash& h) {
  std::string key(k_pending_prefix);
  key.append(reinterpret_cast<const char*>(h.data()), h.size());
  return key;
}

Error to_error(const rocksdb::Status& s, const std::string& what) {
  Errc code = Errc::io;
  if (s.IsNoSpace()) {
    code = Errc::no_space;
  } else if (s.IsCorruption()) {
    code = Errc::corrupt;
  } else if (s.IsNotFound()) {
    code = Errc::not_found;
  } else if (s.IsBusy() || s.IsTimedOut()) {
    code = Errc::busy;
  } else if (s.IsIncomplete()) {
    code = Errc::would_block; // a memory-only read (kBlockCacheTier) that needed the disk
  }
  return make_error(code, "index: " + what + ": " + s.ToString());
}

std::optional<LruKey> parse_lru_key(std::string_view key) {
  if (key.size() != 8 + sizeof(Hash)) {
    return std::nullopt;
  }
  std::uint64_t t = 0;
  for (int i = 0; i < 8; ++i) {
    t = (t << 8) | static_cast<std::uint8_t>(key[static_cast<std::size_t>(i)]);
  }
  LruKey out;
  out.tick = static_cast<std::int64_t>(t);
  std::memcpy(out.hash.data(), key.data() + 8, out.hash.size());
  return out;
}

std::optional<std::pair<Hash, EntryRef>> parse_back_reference_key(std::string_view key) {
  if (key.size() <= sizeof(Hash) ||
      static_cast<std::uint8_t>(key[sizeof(Hash)]) >= k_namespaces.size()) {
    return std::nullopt;
  }
  Hash hash;
  std::memcpy(hash.data(), key.data(), hash.size());
  return std::pair{hash, EntryRef{static_cast<Namespace>(key[sizeof(Hash)]),
                                  std::string(key.substr(sizeof(Hash) + 1))}};
}

} // namespace ingot::cas
