// The read path: a byte range of either view of a blob, from the index or from a file.
#include "cas/blob_records.hpp"
#include "cas/codec.hpp"
#include "util/hex.hpp"

#include <algorithm>
#include <cstring>

namespace ingot::cas {

namespace {

constexpr std::size_t k_stored_chunk = 128 * 1024;

class InlineSource final : public StoredSource {
public:
  explicit InlineSource(std::string bytes) : m_bytes(std::move(bytes)) {}
  Result<std::size_t> read_at(std::uint64_t offset, MutableByteView out) override {
    if (offset >= m_bytes.size()) {
      return std::size_t{0};
    }
    const std::size_t n = std::min<std::uint64_t>(out.size(), m_bytes.size() - offset);
    std::memcpy(out.data(), m_bytes.data() + offset, n);
    return n;
  }

private:
  std::string m_bytes;
};

class FileSource final : public StoredSource {
public:
  FileSource(UniqueFd fd, std::filesystem::path path)
      : m_fd(std::move(fd)), m_path(std::move(path)) {}
  Result<std::size_t> read_at(std::uint64_t offset, MutableByteView out) override {
    return pread_full(m_fd.get(), out, offset, m_path);
  }
  int fd() const override { return m_fd.get(); }

private:
  UniqueFd m_fd;
  std::filesystem::path m_path;
};

Error truncated(const BlobInfo& info) {
  return make_error(Errc::corrupt,
                    "blob " + info.digest.hex() + " is shorter than recorded; run `ingot fsck`");
}

// A range of bytes read as they are stored: the stored view, or the decoded view of a raw
// blob (the same bytes).
class RangeReader final : public BlobReader {
public:
  RangeReader(const BlobInfo& info, std::unique_ptr<StoredSource> source, std::uint64_t begin,
              std::uint64_t end)
      : m_info(info), m_source(std::move(source)), m_pos(begin), m_begin(begin), m_end(end) {}

  const BlobInfo& info() const override { return m_info; }
  std::uint64_t length() const override { return m_end - m_begin; }

  Result<std::size_t> read(MutableByteView out) override {
    const std::size_t want = std::min<std::uint64_t>(out.size(), m_end - m_pos);
    if (want == 0) {
      return std::size_t{0};
    }
    auto n = m_source->read_at(m_pos, out.first(want));
    if (!n) {
      return std::move(n).error();
    }
    if (*n < want) {
      return truncated(m_info);
    }
    m_pos += *n;
    return *n;
  }

  std::optional<FileSpan> file_span() const override {
    if (m_source->fd() < 0) {
      return std::nullopt;
    }
    return FileSpan{m_source->fd(), m_pos, m_end - m_pos};
  }

private:
  BlobInfo m_info;
  std::unique_ptr<StoredSource> m_source;
  std::uint64_t m_pos;
  std::uint64_t m_begin;
  std::uint64_t m_end;
};

// The decoded view of a zstd blob: decodes from the start of the frame and discards the
// bytes before the range (a zstd frame has no random access).
class ZstdReader final : public BlobReader {
public:
  ZstdReader(const BlobInfo& info, std::unique_ptr<StoredSource> source, std::uint64_t begin,
             std::uint64_t end)
      : m_info(info), m_source(std::move(source)), m_skip(begin), m_left(end - begin),
        m_length(end - begin) {}

  const BlobInfo& info() const override { return m_info; }
  std::uint64_t length() const override { return m_length; }

  Result<std::size_t> read(MutableByteView out) override {
    std::vector<std::uint8_t> scratch(std::min<std::uint64_t>(m_skip, k_stored_chunk));
    while (m_skip > 0) {
      auto n =
          decode(MutableByteView(scratch).first(std::min<std::uint64_t>(m_skip, scratch.size())));
      if (!n) {
        return std::move(n).error();
      }
      m_skip -= *n;
    }
    if (m_left == 0 || out.empty()) {
      return std::size_t{0};
    }
    auto n = decode(out.first(std::min<std::uint64_t>(out.size(), m_left)));
    if (n) {
      m_left -= *n;
    }
    return n;
  }

private:
  // Produces at least one byte into `out`, or fails.
  Result<std::size_t> decode(MutableByteView out) {
    for (;;) {
      if (m_in.empty()) {
        if (m_in_buffer.empty()) {
          m_in_buffer.resize(std::min<std::uint64_t>(k_stored_chunk, m_info.stored_size));
        }
        auto n = m_source->read_at(m_stored_pos, m_in_buffer);
        if (!n) {
          return std::move(n).error();
        }
        m_stored_pos += *n;
        m_in = ByteView(m_in_buffer).first(*n);
      }
      const bool source_done = m_in.empty();
      auto produced = m_decoder.decode(m_in, out);
      if (!produced) {
        return make_error(Errc::corrupt, "blob " + m_info.digest.hex() + ": " +
                                             produced.error().message + "; run `ingot fsck`");
      }
      if (*produced > 0) {
        return *produced;
      }
      // A frame that ended (or stored bytes that ran out) before the blob's size was
      // reached: the stored bytes are damaged, and looping would never produce more.
      if (source_done || m_decoder.finished()) {
        return truncated(m_info);
      }
    }
  }

  BlobInfo m_info;
  std::unique_ptr<StoredSource> m_source;
  ZstdDecoder m_decoder;
  std::vector<std::uint8_t> m_in_buffer;
  ByteView m_in;
  std::uint64_t m_stored_pos = 0;
  std::uint64_t m_skip;
  std::uint64_t m_left;
  std::uint64_t m_length;
};

} // namespace

std::unique_ptr<StoredSource> inline_source(std::string bytes) {
  return std::make_unique<InlineSource>(std::move(bytes));
}

std::unique_ptr<StoredSource> file_source(UniqueFd fd, std::filesystem::path path) {
  return std::make_unique<FileSource>(std::move(fd), std::move(path));
}

Result<std::unique_ptr<BlobReader>> make_reader(const BlobInfo& info,
                                                std::unique_ptr<StoredSource> source,
                                                const ReadOptions& options) {
  const bool stored = options.view == View::stored;
  const std::uint64_t total = stored ? info.stored_size : info.digest.size;
  if (options.offset > total) {
    return make_error(Errc::invalid_argument, "offset " + std::to_string(options.offset) +
                                                  " is past the end of " + info.digest.hex() +
                                                  " (" + std::to_string(total) + " bytes)");
  }
  const std::uint64_t room = total - options.offset;
  const std::uint64_t end =
      options.offset + (options.length ? std::min(room, *options.length) : room);
  if (stored || info.codec == Codec::raw) {
    return std::unique_ptr<BlobReader>(
        std::make_unique<RangeReader>(info, std::move(source), options.offset, end));
  }
  return std::unique_ptr<BlobReader>(
      std::make_unique<ZstdReader>(info, std::move(source), options.offset, end));
}

} // namespace ingot::cas
