// Internal to cas/: leases, held in memory while an upload or a pin is under way, keep blobs
// from eviction.
#pragma once

#include "cas/hash_hasher.hpp"

#include <mutex>
#include <unordered_map>
#include <vector>

namespace ingot::cas {

class Leases {
public:
  Leases() = default;
  Leases(const Leases&) = delete;
  Leases& operator=(const Leases&) = delete;

  void hold(const Hash& hash);
  void unhold(const Hash& hash);
  bool held(const Hash& hash);

private:
  std::mutex m_mutex;
  std::unordered_map<Hash, int, HashHasher> m_leases; // how many holders
};

// Keeps blobs from eviction while held (an upload that found its blob already stored, a pin
// being set up).
class Lease {
public:
  Lease(Leases& leases, std::vector<Hash> hashes);
  ~Lease();
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

private:
  Leases& m_leases;
  std::vector<Hash> m_hashes;
};

} // namespace ingot::cas
