#include "cas/read_tier.hpp"

namespace ingot::cas {

namespace {
thread_local bool t_memory_only = false;
} // namespace

MemoryOnlyReads::MemoryOnlyReads() : m_was(t_memory_only) {
  t_memory_only = true;
}

MemoryOnlyReads::~MemoryOnlyReads() {
  t_memory_only = m_was;
}

bool memory_only_reads() {
  return t_memory_only;
}

} // namespace ingot::cas
