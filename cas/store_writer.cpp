// The streaming write path: hash and buffer the first bytes; small blobs go inline, larger
// ones are probed once for compressibility and streamed to a temp file, raw or as zstd.
#include "cas/store_writer.hpp"

#include "cas/blob_records.hpp"
#include "cas/codec.hpp"
#include "cas/leases.hpp"
#include "cas/space_account.hpp"

#include <algorithm>
#include <ctime>

#include <xxhash.h>

namespace ingot::cas {

namespace {

// Writes to the temp file in pieces of this size: few syscalls, bounded memory.
constexpr std::size_t k_out_buffer = 1 << 20;
// Below this, compressing an inline blob saves too little to be worth a decode on read.
constexpr std::size_t k_min_compress = 128;
// A write of unknown size reserves space this much at a time.
constexpr std::uint64_t k_reserve_step = 4 << 20;

// Less under a small bound: a 4 MiB step under --max-size 8MiB refuses a 2 KB blob as soon as
// the index and the rest take half the bound.
std::uint64_t reserve_step(std::uint64_t max_size) {
  if (max_size == 0) {
    return k_reserve_step;
  }
  return std::clamp<std::uint64_t>(max_size / 64, 64 << 10, k_reserve_step);
}

// Disk a blob of `size` may take at most: zstd's worst case for incompressible data is a
// little above the input (the writer only compresses what its probe found compressible),
// plus the index record.
std::uint64_t disk_bound(std::uint64_t size) {
  return size + size / 128 + 1024;
}

class StoreWriter final : public BlobWriter {
public:
  StoreWriter(const WriterParts& parts, std::optional<Digest> expected)
      : m_parts(parts), m_expected(expected),
        m_buffer_limit(std::max<std::uint64_t>(parts.options.inline_threshold, k_probe_bytes)) {
    // A build re-pushing unchanged outputs sends blobs the store already holds: those are
    // hashed to verify them, but not written and fsynced only to be thrown away. The lease
    // keeps GC from evicting the blob until the upload ends.
    if (size_known() && expected->size > parts.options.inline_threshold) {
      m_lease.emplace(parts.leases, std::vector<Hash>{expected->hash});
      m_verify_only = parts.records.contains(expected->hash, Use::write);
      if (!m_verify_only) {
        m_lease.reset();
      }
    }
  }

  // Space first: a write that cannot have it fails before a byte is written.
  Result<void> reserve_up_front() {
    if (m_verify_only || !size_known()) {
      return {};
    }
    auto r = m_parts.space.reserve(disk_bound(m_expected->size));
    if (!r) {
      return std::move(r).error();
    }
    m_reservation = std::move(*r);
    return {};
  }

  ~StoreWriter() override {
    if (m_xxh != nullptr) {
      XXH3_freeState(m_xxh);
    }
  }

  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  Result<void> append(ByteView chunk) override {
    if (m_state != State::open) {
      return make_error(Errc::invalid_argument, "write already committed or failed");
    }
    auto r = append_checked(chunk);
    if (!r) {
      fail();
    }
    return r;
  }

  Result<Digest> commit() override {
    if (m_state != State::open) {
      return make_error(Errc::invalid_argument, "write already committed or failed");
    }
    auto r = commit_checked();
    m_state = r ? State::done : State::failed;
    if (!r) {
      fail();
    }
    // Committed bytes are counted as stored now: the space held for them goes back. The lease
    // stays until the writer goes, so that an entry naming the blob can still be written.
    m_reservation.release();
    return r;
  }

  bool commit_blocks() const override {
    return !m_verify_only && m_size > m_parts.options.inline_threshold;
  }

private:
  enum class State { open, done, failed };

  bool size_known() const { return m_expected && m_expected->size != k_size_unknown; }

  // For writes of unknown size: more space as the bytes arrive.
  Result<void> reserve_more() {
    const std::uint64_t need = disk_bound(m_size);
    if (need <= m_reservation.bytes()) {
      return {};
    }
    auto more = m_parts.space.reserve(
        std::max(need - m_reservation.bytes(), reserve_step(m_parts.options.max_size)));
    if (!more) {
      return std::move(more).error();
    }
    m_reservation.absorb(std::move(*more));
    return {};
  }

  Result<void> append_checked(ByteView chunk) {
    if (m_expected && m_expected->size != k_size_unknown &&
        m_size + chunk.size() > m_expected->size) {
      return make_error(Errc::invalid_argument, "received more than the expected " +
                                                    std::to_string(m_expected->size) +
                                                    " bytes of " + m_expected->hex());
    }
    m_sha.update(chunk);
    m_size += chunk.size();
    if (m_verify_only) {
      return {};
    }
    if (!size_known()) {
      INGOT_TRY(reserve_more());
    }
    if (!m_file) {
      // Fill the buffer first, so the codec probe sees the head of the blob.
      const auto take = std::min<std::uint64_t>(m_buffer_limit - m_buffer.size(), chunk.size());
      m_buffer.insert(m_buffer.end(), chunk.begin(), chunk.begin() + static_cast<long>(take));
      chunk = chunk.subspan(take);
      if (chunk.empty()) {
        return {};
      }
      INGOT_TRY(start_file());
    }
    return encode(chunk);
  }

  Result<Digest> commit_checked() {
    const Digest digest = m_sha.finish();
    const bool size_known = m_expected && m_expected->size != k_size_unknown;
    if (m_expected &&
        (digest.hash != m_expected->hash || (size_known && digest.size != m_expected->size))) {
      const auto expected = size_known ? m_expected->to_string() : m_expected->hex();
      return make_error(Errc::invalid_argument, "content is " + digest.to_string() + " but " +
                                                    expected + " was expected; nothing was stored");
    }
    if (m_verify_only) {
      if (!m_parts.records.contains(digest.hash, Use::write)) {
        // Removed while the body arrived; its bytes were not kept, so the client must retry.
        return make_error(Errc::busy, "blob " + digest.hex() +
                                          " was removed while being uploaded again; retry");
      }
      return digest;
    }
    BlobRecord record;
    record.size = digest.size;
    record.created_unix_s = std::time(nullptr);
    if (!m_file && m_size <= m_parts.options.inline_threshold) {
      return commit_inline(digest, record);
    }
    if (!m_file) {
      INGOT_TRY(start_file());
    }
    if (m_codec == Codec::zstd) {
      INGOT_TRY(m_encoder->finish([this](ByteView out) { return emit(out); }));
    }
    INGOT_TRY(flush());
    INGOT_TRY(m_file->sync());
    record.codec = m_codec;
    record.stored_size = m_stored_size;
    record.xxh3 = XXH3_64bits_digest(m_xxh);
    INGOT_TRY(m_parts.records.commit_file(digest, record, *m_file));
    m_file.reset(); // removes the temp file if the blob was already there
    return digest;
  }

  Result<Digest> commit_inline(const Digest& digest, BlobRecord& record) {
    ByteView stored = m_buffer;
    std::vector<std::uint8_t> compressed;
    if (m_parts.options.compression == Compression::automatic && m_size >= k_min_compress) {
      auto c = compress_once(m_buffer, m_parts.options.zstd_level);
      if (c && worth_compressing(m_buffer, c->size())) {
        compressed = std::move(*c);
        stored = compressed;
        record.codec = Codec::zstd;
      }
    }
    record.is_inline = true;
    record.stored_size = stored.size();
    record.xxh3 = XXH3_64bits(stored.data(), stored.size());
    INGOT_TRY(m_parts.records.commit_inline(digest, record, stored));
    return digest;
  }

  // Leaves buffering: picks the codec from the buffered head of the blob, opens the temp
  // file and pushes the buffer through.
  Result<void> start_file() {
    auto file = m_parts.records.files().create_temp();
    if (!file) {
      return std::move(file).error();
    }
    m_file.emplace(std::move(*file));
    m_xxh = XXH3_createState();
    XXH3_64bits_reset(m_xxh);
    m_out.reserve(k_out_buffer);
    if (m_parts.options.compression == Compression::automatic) {
      const ByteView sample = ByteView(m_buffer).first(std::min(m_buffer.size(), k_probe_bytes));
      if (worth_compressing(sample, probe_compressed_size(sample))) {
        m_codec = Codec::zstd;
        m_encoder = std::make_unique<ZstdEncoder>(m_parts.options.zstd_level);
      }
    }
    auto r = encode(m_buffer);
    m_buffer = {}; // give the memory back
    return r;
  }

  Result<void> encode(ByteView data) {
    if (m_codec == Codec::zstd) {
      return m_encoder->write(data, [this](ByteView out) { return emit(out); });
    }
    return emit(data);
  }

  // Stored bytes: checksummed, then buffered, or written straight through when large.
  Result<void> emit(ByteView stored) {
    XXH3_64bits_update(m_xxh, stored.data(), stored.size());
    m_stored_size += stored.size();
    if (stored.size() >= k_out_buffer / 2) {
      INGOT_TRY(flush());
      return m_file->write(stored);
    }
    if (m_out.size() + stored.size() > k_out_buffer) {
      INGOT_TRY(flush());
    }
    m_out.insert(m_out.end(), stored.begin(), stored.end());
    return {};
  }

  Result<void> flush() {
    if (!m_out.empty()) {
      INGOT_TRY(m_file->write(m_out));
      m_out.clear();
    }
    return {};
  }

  void fail() {
    m_state = State::failed;
    m_file.reset();
    m_buffer = {};
    m_out = {};
    m_reservation.release();
    m_lease.reset();
  }

  const WriterParts m_parts;
  std::optional<Digest> m_expected;
  const std::uint64_t m_buffer_limit;
  std::optional<Lease> m_lease;
  bool m_verify_only = false;
  Reservation m_reservation;
  State m_state = State::open;
  Sha256 m_sha;
  std::uint64_t m_size = 0;
  std::vector<std::uint8_t> m_buffer;

  std::optional<TempFile> m_file;
  Codec m_codec = Codec::raw;
  std::unique_ptr<ZstdEncoder> m_encoder;
  XXH3_state_t* m_xxh = nullptr;
  std::uint64_t m_stored_size = 0;
  std::vector<std::uint8_t> m_out;
};

} // namespace

Result<std::unique_ptr<BlobWriter>> make_writer(const WriterParts& parts,
                                                std::optional<Digest> expected) {
  auto writer = std::make_unique<StoreWriter>(parts, expected);
  INGOT_TRY(writer->reserve_up_front());
  return std::unique_ptr<BlobWriter>(std::move(writer));
}

} // namespace ingot::cas
