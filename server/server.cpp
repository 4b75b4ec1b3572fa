#include "server/server.hpp"

#include "server/context.hpp"
#include "server/grpc/front_end.hpp"
#include "server/mirror_upstreams.hpp"
#include "server/session.hpp"
#include "server/tls.hpp"
#include "util/thread_role.hpp"

#include <array>
#include <csignal>
#include <cstdio>
#include <deque>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>

namespace ingot::server {

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// Sent to a connection over --max-connections, which is then closed.
// Commits that fsync run here: enough for the disk to have several flushes in flight while
// the I/O threads go on serving.
constexpr std::size_t k_blocking_threads = 8;
// Threads that wait for upstreams (--mirror): a fetch mostly waits for the network, and each
// request for a path being fetched waits for that fetch; more misses at once queue here.
constexpr std::size_t k_upstream_threads = 16;

const std::string& busy_response() {
  static const std::string body = "server is at its connection limit; retry soon\n";
  static const std::string response =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\n"
      "Retry-After: 1\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  return response;
}

class BeastServer final : public Server {
public:
  BeastServer(const ServerOptions& options, cas::Store& store,
              const std::filesystem::path& data_dir, std::unique_ptr<Releases> releases,
              std::shared_ptr<Upstreams> upstreams)
      : m_ctx(options, store, data_dir, std::move(releases), std::move(upstreams)),
        m_threads(options.threads != 0 ? options.threads
                                       : std::max(1u, std::thread::hardware_concurrency())),
        m_ios(make_contexts(m_threads)), m_io(*m_ios.front()), m_signals(m_io, SIGINT, SIGTERM),
        m_reload(m_io), m_drain_timer(m_io), m_blocking(k_blocking_threads),
        m_upstream(k_upstream_threads) {
    // A write to a connection the peer has reset raises SIGPIPE, whose default ends the
    // process. Asio's writes pass MSG_NOSIGNAL, but sendfile(2) has no such flag: a client
    // that drops a download midway must cost that download only.
    std::signal(SIGPIPE, SIG_IGN);
    for (auto& io : m_ios) {
      m_work.push_back(net::make_work_guard(*io));
    }
    // Everything that may wait for the disk runs here (Session::off_io), never on an I/O
    // thread: one eviction there would stall every connection of that thread.
    m_ctx.run_blocking = [this](std::function<void()> work) {
      net::post(m_blocking, std::move(work));
    };
    m_ctx.run_upstream = [this](std::function<void()> work) {
      net::post(m_upstream, std::move(work));
    };
  }

  // A server that never ran or never drained: the gRPC front end stops (its calls end on the
  // blocking and upstream pools, which still run here) before the members it needs go.
  ~BeastServer() override {
    if (m_grpc_shutdown.joinable()) {
      m_grpc_shutdown.join();
    } else if (m_grpc) {
      m_grpc->shutdown(std::chrono::system_clock::now());
    }
    m_grpc.reset();
  }
  BeastServer(const BeastServer&) = delete;
  BeastServer& operator=(const BeastServer&) = delete;

  // Loads the TLS certificate if there is one, then binds every listener.
  Result<void> listen() {
    const auto& o = m_ctx.options;
    if (o.tls_cert.empty() != o.tls_key.empty()) {
      return make_error(Errc::invalid_argument,
                        "--tls-cert and --tls-key go together: pass both for HTTPS, or neither");
    }
    if (!o.tls_cert.empty()) {
      auto tls = load_tls_context(o.tls_cert, o.tls_key);
      if (!tls) {
        return std::move(tls).error();
      }
      m_tls = std::move(*tls);
    } else if (o.http_listen) {
      return make_error(Errc::invalid_argument,
                        "--http-listen adds a plain HTTP listener beside HTTPS: it needs "
                        "--tls-cert and --tls-key (without them, --listen serves plain HTTP)");
    }
    INGOT_TRY(bind(m_listeners.emplace_back(m_io, Scheme::main), "--listen", o.host, o.port));
    if (o.http_listen) {
      INGOT_TRY(bind(m_listeners.emplace_back(m_io, Scheme::plain), "--http-listen",
                     o.http_listen->host, o.http_listen->port));
    }
    if (o.grpc_listen) {
      auto grpc = GrpcFrontEnd::start(m_ctx, *o.grpc_listen);
      if (!grpc) {
        return std::move(grpc).error();
      }
      m_grpc = std::move(*grpc);
    }
    // Only with a certificate (HTTP's or gRPC's): without one, SIGHUP keeps its default and
    // ends the server, as a closed terminal expects.
    if (m_tls || (o.grpc_listen && !o.grpc_tls_cert.empty())) {
      boost::system::error_code ec;
      m_reload.add(SIGHUP, ec);
    }
    return {};
  }

  std::uint16_t port() const override { return m_listeners.front().port; }
  std::uint16_t http_port() const override {
    return m_listeners.size() > 1 ? m_listeners.back().port : 0;
  }
  std::uint16_t grpc_port() const override { return m_grpc ? m_grpc->port() : 0; }

  void run() override {
    m_signals.async_wait([this](boost::system::error_code ec, int) {
      if (!ec) {
        begin_drain();
      }
    });
    wait_for_reload(); // a no-op wait unless listen() added SIGHUP
    for (auto& listener : m_listeners) {
      accept(listener);
    }
    std::vector<std::thread> extra;
    for (std::size_t i = 1; i < m_ios.size(); ++i) {
      extra.emplace_back([io = m_ios[i].get()] {
        const IoThreadGuard io_thread;
        io->run();
      });
    }
    {
      const IoThreadGuard io_thread;
      m_io.run();
    }
    for (auto& t : extra) {
      t.join();
    }
    if (m_grpc_shutdown.joinable()) {
      m_grpc_shutdown.join(); // gRPC calls end on the blocking and upstream pools: both still run
    }
    m_upstream.join(); // fetches under way finish (each within its timeout)
    m_blocking.join(); // commits under way finish; their replies have nowhere to go now
  }

  void stop() override {
    net::post(m_io, [this] { begin_drain(); });
  }

private:
  // The main listener (--listen) serves HTTPS when there is a certificate; the other one
  // (--http-listen) serves plain HTTP beside it.
  enum class Scheme { main, plain };
  struct Listener {
    Listener(net::io_context& io, Scheme s) : acceptor(io), scheme(s) {}
    tcp::acceptor acceptor;
    Scheme scheme;
    std::uint16_t port = 0;
  };

  static Result<void> bind(Listener& listener, const char* flag, const std::string& host,
                           std::uint16_t port) {
    boost::system::error_code ec;
    const auto address = net::ip::make_address(host, ec);
    if (ec) {
      return make_error(Errc::invalid_argument,
                        std::string(flag) + ": '" + host + "' is not an IP address");
    }
    const tcp::endpoint endpoint(address, port);
    auto& acceptor = listener.acceptor;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) {
      acceptor.set_option(net::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
      acceptor.bind(endpoint, ec);
    }
    if (!ec) {
      acceptor.listen(net::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      return make_error(Errc::io, "cannot listen on " + host + ":" + std::to_string(port) + " (" +
                                      flag + "): " + ec.message());
    }
    listener.port = acceptor.local_endpoint().port();
    return {};
  }

  // SIGHUP reads the certificate and key again: connections accepted from then on use the
  // new ones, those open keep theirs. A file that does not load leaves the old ones serving.
  void wait_for_reload() {
    m_reload.async_wait([this](boost::system::error_code ec, int) {
      if (ec) {
        return; // cancelled by the drain
      }
      if (m_grpc && !m_ctx.options.grpc_tls_cert.empty()) {
        std::fprintf(stderr,
                     "ingot: SIGHUP: gRPC re-reads %s and its key by itself, every %lld s\n",
                     m_ctx.options.grpc_tls_cert.c_str(),
                     static_cast<long long>(m_ctx.options.grpc_tls_refresh.count()));
      }
      if (!m_tls) {
        wait_for_reload();
        return; // gRPC's certificate only
      }
      auto tls = load_tls_context(m_ctx.options.tls_cert, m_ctx.options.tls_key);
      if (tls) {
        m_tls = std::move(*tls);
        std::fprintf(stderr, "ingot: SIGHUP: TLS certificate reloaded from %s\n",
                     m_ctx.options.tls_cert.c_str());
      } else {
        std::fprintf(stderr,
                     "ingot: SIGHUP: TLS reload failed, the previous certificate still serves: "
                     "%s\n",
                     tls.error().message.c_str());
      }
      wait_for_reload();
    });
  }

  // One io_context per I/O thread, each run by that thread alone, and every connection bound
  // to one of them for its life (round robin): its handlers never need a strand, and a
  // request is read, handled and answered on one thread without waking another. With one
  // shared io_context, a ccache GET spent more time in thread hand-offs than in Ingot.
  static std::vector<std::unique_ptr<net::io_context>> make_contexts(unsigned threads) {
    std::vector<std::unique_ptr<net::io_context>> ios;
    for (unsigned i = 0; i < threads; ++i) {
      ios.push_back(std::make_unique<net::io_context>(1));
    }
    return ios;
  }

  net::io_context& next_context() {
    auto& io = *m_ios[m_next_io];
    m_next_io = (m_next_io + 1) % m_ios.size();
    return io;
  }

  void accept(Listener& listener) {
    listener.acceptor.async_accept(next_context(), [this, &listener](boost::system::error_code ec,
                                                                     tcp::socket socket) {
      if (ec) {
        if (m_ctx.draining) {
          return;
        }
        // Out of descriptors and similar: keep serving what is open.
        return accept(listener);
      }
      if (static_cast<std::size_t>(m_ctx.metrics.open_connections()) >=
          m_ctx.options.max_connections) {
        m_ctx.metrics.connection_refused();
        const bool tls = listener.scheme == Scheme::main && m_tls;
        boost::system::error_code ignored;
        // Over TLS, a 503 would need a handshake first, which is the work the limit refuses:
        // the connection is only closed.
        if (!tls) {
          net::write(socket, net::buffer(busy_response()), ignored);
        }
        // Drop what the client already sent before closing, so the
        // close is a FIN it can read our answer before, not a reset.
        socket.shutdown(tcp::socket::shutdown_send, ignored);
        std::array<char, 4096> scratch{};
        while (socket.available(ignored) > 0 && !ignored) {
          socket.read_some(net::buffer(scratch), ignored);
        }
        socket.close(ignored);
      } else {
        start_session(std::move(socket), m_ctx, listener.scheme == Scheme::main ? m_tls : nullptr);
      }
      accept(listener);
    });
  }

  void begin_drain() {
    if (m_ctx.draining.exchange(true)) {
      return;
    }
    std::fprintf(stderr, "ingot: shutting down; waiting up to %lld ms for requests in flight\n",
                 static_cast<long long>(m_ctx.options.shutdown_grace.count()));
    boost::system::error_code ec;
    for (auto& listener : m_listeners) {
      listener.acceptor.close(ec);
    }
    m_signals.cancel(ec);
    m_reload.cancel(ec);
    if (m_grpc) {
      // Blocks until its calls end (cancelled at the deadline): on a thread of its own.
      const auto deadline = std::chrono::system_clock::now() + m_ctx.options.shutdown_grace;
      m_grpc_shutdown = std::thread([this, deadline] { m_grpc->shutdown(deadline); });
    }
    // Called outside the lock: a closer may drop the last reference to its session, whose
    // destructor takes the lock to unregister.
    std::vector<std::function<void()>> closers;
    {
      std::lock_guard lock(m_ctx.sessions_mutex);
      for (auto& [session, close_if_idle] : m_ctx.idle_closers) {
        closers.push_back(close_if_idle);
      }
    }
    for (auto& close_if_idle : closers) {
      close_if_idle();
    }
    m_drain_deadline = std::chrono::steady_clock::now() + m_ctx.options.shutdown_grace;
    wait_for_sessions();
  }

  void wait_for_sessions() {
    if (m_ctx.metrics.open_connections() == 0 ||
        std::chrono::steady_clock::now() >= m_drain_deadline) {
      for (auto& io : m_ios) {
        io->stop();
      }
      return;
    }
    // Sessions finishing a request close themselves (draining is set); check back shortly.
    m_drain_timer.expires_after(std::chrono::milliseconds(20));
    m_drain_timer.async_wait([this](boost::system::error_code) { wait_for_sessions(); });
  }

  ServerContext m_ctx;
  unsigned m_threads;
  std::vector<std::unique_ptr<net::io_context>> m_ios;
  net::io_context& m_io; // the first: acceptor, signals, drain
  std::vector<net::executor_work_guard<net::io_context::executor_type>> m_work;
  std::size_t m_next_io = 0;                // used by the acceptors' handlers only
  std::deque<Listener> m_listeners;         // a deque: handlers hold references to its elements
  std::shared_ptr<net::ssl::context> m_tls; // replaced on SIGHUP, on m_io only
  net::signal_set m_signals;
  net::signal_set m_reload;
  net::steady_timer m_drain_timer;
  std::chrono::steady_clock::time_point m_drain_deadline;
  std::unique_ptr<GrpcFrontEnd> m_grpc; // with --grpc-listen
  std::thread m_grpc_shutdown;          // started by the drain, joined by run()
  // Declared last, so destroyed (and joined) first, while the store and sessions' context
  // are still there for the commits it finishes.
  net::thread_pool m_blocking;
  net::thread_pool m_upstream;
};

} // namespace

Result<std::unique_ptr<Server>> Server::create(const ServerOptions& options, cas::Store& store,
                                               const std::filesystem::path& data_dir) {
  auto releases = Releases::open(options.signing_keys, data_dir);
  if (!releases) {
    return std::move(releases).error();
  }
  auto upstreams = make_upstreams(options.mirrors, options.read_timeout);
  if (!upstreams) {
    return std::move(upstreams).error();
  }
  auto server = std::make_unique<BeastServer>(options, store, data_dir, std::move(*releases),
                                              std::move(*upstreams));
  INGOT_TRY(server->listen());
  return std::unique_ptr<Server>(std::move(server));
}

} // namespace ingot::server
