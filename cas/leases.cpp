#include "cas/leases.hpp"

namespace ingot::cas {

void Leases::hold(const Hash& hash) {
  std::lock_guard lock(m_mutex);
  ++m_leases[hash];
}

void Leases::unhold(const Hash& hash) {
  std::lock_guard lock(m_mutex);
  auto it = m_leases.find(hash);
  if (it != m_leases.end() && --it->second == 0) {
    m_leases.erase(it);
  }
}

bool Leases::held(const Hash& hash) {
  std::lock_guard lock(m_mutex);
  return m_leases.contains(hash);
}

Lease::Lease(Leases& leases, std::vector<Hash> hashes)
    : m_leases(leases), m_hashes(std::move(hashes)) {
  for (const auto& h : m_hashes) {
    m_leases.hold(h);
  }
}

Lease::~Lease() {
  for (const auto& h : m_hashes) {
    m_leases.unhold(h);
  }
}

} // namespace ingot::cas
