// Lookups served from memory alone. Inside a MemoryOnlyReads scope the store looks records and
// entries up only in what RocksDB holds in memory (memtables, block cache: inline blobs and
// entries recently used), and fails with Errc::would_block where it would have to read an
// index block from the disk. A server tries a blob read on its I/O thread this way and sends
// only the reads that would wait to its blocking pool: the hop there and back cost a 1 KiB GET
// a quarter of its throughput and a 64 KiB one up to a sixth (bench/http, issue 15). A blob
// kept as a file is still opened here: its bytes go out by sendfile from the I/O thread
// anyway, and opening a file a read just named is a lookup in the kernel's caches.
#pragma once

namespace ingot::cas {

class MemoryOnlyReads {
public:
  MemoryOnlyReads();
  ~MemoryOnlyReads();
  MemoryOnlyReads(const MemoryOnlyReads&) = delete;
  MemoryOnlyReads& operator=(const MemoryOnlyReads&) = delete;

private:
  bool m_was;
};

// True inside a MemoryOnlyReads scope on this thread.
bool memory_only_reads();

} // namespace ingot::cas
