#include "server/file_send.hpp"

#include <algorithm>
#include <cerrno>
#include <memory>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <boost/asio/steady_timer.hpp>

namespace ingot::server {

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// The most one sendfile(2) call is asked for before the connection yields to others on its
// I/O thread: as much as the loopback socket buffer usually takes at once.
constexpr std::uint64_t k_piece = 1 << 20;

class FileSend : public std::enable_shared_from_this<FileSend> {
public:
  FileSend(tcp::socket& socket, std::string_view head, cas::FileSpan span,
           std::chrono::steady_clock::duration timeout, std::function<void(const FileSent&)> done)
      : m_socket(socket), m_timer(socket.get_executor()), m_head(head), m_span(span),
        m_timeout(timeout), m_done(std::move(done)) {}

  void start() {
    struct stat st {};
    if (::fstat(m_span.fd, &st) != 0 ||
        static_cast<std::uint64_t>(st.st_size) < m_span.offset + m_span.length) {
      m_result.short_file = true;
      return finish();
    }
    boost::system::error_code ec;
    m_socket.native_non_blocking(true, ec);
    if (ec) {
      m_result.error = ec;
      return finish();
    }
    step();
  }

private:
  // Sends what the socket takes without blocking: the rest of the header, then one piece of
  // the file. Waits for room when the socket is full, and between pieces.
  void step() {
    const int sock = m_socket.native_handle();
    while (m_head_done < m_head.size()) {
      const int more = m_span.length > m_result.body_bytes ? MSG_MORE : 0;
      const ssize_t n = ::send(sock, m_head.data() + m_head_done, m_head.size() - m_head_done,
                               MSG_NOSIGNAL | more);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return errno == EAGAIN || errno == EWOULDBLOCK ? wait() : fail(errno);
      }
      m_head_done += static_cast<std::size_t>(n);
      m_result.head_sent = true;
    }
    const std::uint64_t left = m_span.length - m_result.body_bytes;
    if (left == 0) {
      return finish();
    }
    off_t offset = static_cast<off_t>(m_span.offset + m_result.body_bytes);
    ssize_t n;
    do {
      n = ::sendfile(sock, m_span.fd, &offset, std::min(left, k_piece));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      return errno == EAGAIN || errno == EWOULDBLOCK ? wait() : fail(errno);
    }
    if (n == 0) {
      m_result.short_file = true; // shrunk since start(): the end came before the span's
      return finish();
    }
    m_result.body_bytes += static_cast<std::uint64_t>(n);
    if (m_result.body_bytes == m_span.length) {
      return finish();
    }
    wait();
  }

  // Until the socket has room (at once, through the reactor, when it has), or the timeout.
  void wait() {
    const std::uint64_t id = ++m_waits;
    m_timer.expires_after(m_timeout);
    m_timer.async_wait([self = shared_from_this(), id](boost::system::error_code ec) {
      // A timer that expired as its wait ended, and ran late, must not cut a later wait.
      if (!ec && id == self->m_waits && self->m_waiting) {
        self->m_timed_out = true;
        boost::system::error_code ignored;
        self->m_socket.cancel(ignored);
      }
    });
    m_waiting = true;
    m_socket.async_wait(tcp::socket::wait_write,
                        [self = shared_from_this()](boost::system::error_code ec) {
                          self->m_waiting = false;
                          self->m_timer.cancel();
                          if (self->m_timed_out) {
                            self->m_result.error = net::error::timed_out;
                            return self->finish();
                          }
                          if (ec) {
                            self->m_result.error = ec;
                            return self->finish();
                          }
                          self->step();
                        });
  }

  void fail(int error) {
    m_result.error = boost::system::error_code(error, boost::system::system_category());
    finish();
  }

  void finish() {
    auto done = std::move(m_done);
    done(m_result);
  }

  tcp::socket& m_socket;
  net::steady_timer m_timer;
  std::string_view m_head;
  cas::FileSpan m_span;
  std::chrono::steady_clock::duration m_timeout;
  std::function<void(const FileSent&)> m_done;
  std::size_t m_head_done = 0;
  std::uint64_t m_waits = 0;
  bool m_waiting = false;
  bool m_timed_out = false;
  FileSent m_result;
};

} // namespace

void async_send_file(tcp::socket& socket, std::string_view head, cas::FileSpan span,
                     std::chrono::steady_clock::duration timeout,
                     std::function<void(const FileSent&)> done) {
  std::make_shared<FileSend>(socket, head, span, timeout, std::move(done))->start();
}

} // namespace ingot::server
