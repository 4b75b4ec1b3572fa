// The gRPC front end against the HTTP one, on one `ingot serve --grpc-listen` and one data dir:
//   read-16m: ByteStream.Read of a 16 MiB blob vs GET /cas/<hex> of the same blob, MB/s;
//   read-1k:  BatchReadBlobs of 1 KiB blobs (--batch per call) vs one GET per blob over the
//             HTTP client's pool of keep-alive connections, blobs/s.
// Both sides run in this process with the same number of client threads, alternating which
// goes first each round; the summary gives the median of the rounds, the gRPC/HTTP ratio
// beside issue 22's target (>= 0.9x), and the CPU seconds the client (this process) and the
// server (--server-pid) spent per side. bench/grpc/run builds and drives it; bench/grpc/README.md
// says what the figures mean. Not a test: it exits 1 only when a read fails or returns the
// wrong bytes.
#include "bytestream.grpc.pb.h"
#include "cas/digest.hpp"
#include "net/http_pool.hpp"
#include "reapi_cache.grpc.pb.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <grpcpp/grpcpp.h>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

namespace reapi = build::bazel::remote::execution::v2;
namespace bs = google::bytestream;
using ingot::cas::Digest;

struct Options {
  std::string grpc_target; // host:port
  std::string http_url;
  std::string token; // write token, for loading the blobs only
  int server_pid = 0;
  int rounds = 5;
  int reads_16m = 32;   // 16 MiB reads per side and round
  int blobs_1k = 20000; // distinct 1 KiB blobs, each read once per side and round
  int batch = 1000;     // digests per BatchReadBlobs
  int threads = 4;      // client threads per side for read-1k
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "grpc_bench: %s\n", message.c_str());
  std::exit(1);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) {
      die(arg + " wants a value (see bench/grpc/README.md)");
    }
    const std::string value = argv[++i];
    const std::map<std::string, std::string*> texts = {
        {"--grpc", &o.grpc_target}, {"--http", &o.http_url}, {"--token", &o.token}};
    const std::map<std::string, int*> numbers = {
        {"--server-pid", &o.server_pid}, {"--rounds", &o.rounds}, {"--reads-16m", &o.reads_16m},
        {"--blobs-1k", &o.blobs_1k},     {"--batch", &o.batch},   {"--threads", &o.threads}};
    if (auto t = texts.find(arg); t != texts.end()) {
      *t->second = value;
    } else if (auto n = numbers.find(arg); n != numbers.end()) {
      *n->second = std::atoi(value.c_str());
      if (*n->second <= 0) {
        die(arg + " wants a whole number above 0, not '" + value + "'");
      }
    } else {
      die("unknown option " + arg + " (see bench/grpc/README.md)");
    }
  }
  if (o.grpc_target.empty() || o.http_url.empty() || o.token.empty()) {
    die("--grpc HOST:PORT, --http URL and --token TOKEN are needed");
  }
  return o;
}

struct Blob {
  Digest digest;
  std::string bytes;
};

// Incompressible bytes, so that neither side can win by compressing.
Blob make_blob(std::mt19937_64& rng, std::size_t size) {
  Blob b;
  b.bytes.resize(size);
  for (std::size_t i = 0; i < size; i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(b.bytes.data() + i, &v, std::min<std::size_t>(8, size - i));
  }
  b.digest = ingot::cas::digest_of(ingot::as_bytes(b.bytes));
  return b;
}

void set_digest(reapi::Digest* d, const Digest& digest) {
  d->set_hash(digest.hex());
  d->set_size_bytes(static_cast<std::int64_t>(digest.size));
}

double cpu_seconds_self() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// utime + stime of the server, all threads, from /proc/PID/stat (fields 14 and 15).
double cpu_seconds_of(int pid) {
  if (pid <= 0) {
    return 0;
  }
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos) {
    die("cannot read /proc/" + std::to_string(pid) + "/stat: is the server running?");
  }
  std::vector<std::string> fields;
  std::string field;
  for (char c : line.substr(close + 2)) {
    if (c == ' ') {
      fields.push_back(field);
      field.clear();
    } else {
      field += c;
    }
  }
  // After "pid (comm) ", field 0 is state (3rd in the file): utime is index 11, stime 12.
  const double ticks = std::stod(fields.at(11)) + std::stod(fields.at(12));
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// One measured run of one side: what it moved, in how long, and the CPU both ends used.
struct Sample {
  double seconds = 0;
  double units = 0; // bytes or blobs
  double client_cpu = 0;
  double server_cpu = 0;
  double rate() const { return units / seconds; }
};

Sample measure(int server_pid, double units, const std::function<void()>& run) {
  const double c0 = cpu_seconds_self();
  const double s0 = cpu_seconds_of(server_pid);
  const auto t0 = std::chrono::steady_clock::now();
  run();
  const auto t1 = std::chrono::steady_clock::now();
  Sample s;
  s.seconds = std::chrono::duration<double>(t1 - t0).count();
  s.units = units;
  s.client_cpu = cpu_seconds_self() - c0;
  s.server_cpu = cpu_seconds_of(server_pid) - s0;
  return s;
}

class Sides {
public:
  explicit Sides(const Options& o) : m_options(o) {
    grpc::ChannelArguments args;
    // Reads only: the default 4 MiB receive limit is what Bazel keeps, and a batch of
    // 1000 x 1 KiB is about 1 MiB.
    m_channel = grpc::CreateCustomChannel(o.grpc_target, grpc::InsecureChannelCredentials(), args);
    m_cas = reapi::ContentAddressableStorage::NewStub(m_channel);
    m_bytestream = bs::ByteStream::NewStub(m_channel);
    auto server = ingot::net::parse_server_url(o.http_url);
    if (!server) {
      die("--http " + o.http_url + ": " + server.error().message);
    }
    m_http = ingot::net::make_http_transport(*server, o.token, std::chrono::seconds(60));
  }

  void upload_small(const std::vector<Blob>& blobs) {
    for (std::size_t i = 0; i < blobs.size(); i += 1000) {
      reapi::BatchUpdateBlobsRequest request;
      for (std::size_t j = i; j < std::min(blobs.size(), i + 1000); ++j) {
        auto* r = request.add_requests();
        set_digest(r->mutable_digest(), blobs[j].digest);
        r->set_data(blobs[j].bytes);
      }
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", "Bearer " + m_options.token);
      reapi::BatchUpdateBlobsResponse response;
      const auto status = m_cas->BatchUpdateBlobs(&ctx, request, &response);
      if (!status.ok()) {
        die("BatchUpdateBlobs: " + status.error_message());
      }
      for (const auto& r : response.responses()) {
        if (r.status().code() != 0) {
          die("BatchUpdateBlobs " + r.digest().hash() + ": " + r.status().message());
        }
      }
    }
  }

  void upload_large(const Blob& blob) {
    ingot::net::Request request;
    request.method = ingot::net::Method::put;
    request.target = "/cas/" + blob.digest.hex();
    request.body = blob.bytes;
    auto response = m_http->send(request, nullptr);
    if (!response || response->status / 100 != 2) {
      die("PUT " + request.target + ": " +
          (response ? std::to_string(response->status) + " " + response->body
                    : response.error().message));
    }
  }

  // ByteStream.Read of the whole blob; returns its bytes when keep is set, else only counts.
  std::string grpc_read(const Digest& d, bool keep) {
    grpc::ClientContext ctx;
    bs::ReadRequest request;
    request.set_resource_name("blobs/" + d.hex() + "/" + std::to_string(d.size));
    auto reader = m_bytestream->Read(&ctx, request);
    bs::ReadResponse chunk;
    std::string out;
    std::uint64_t got = 0;
    while (reader->Read(&chunk)) {
      got += chunk.data().size();
      if (keep) {
        out += chunk.data();
      }
    }
    const auto status = reader->Finish();
    if (!status.ok() || got != d.size) {
      die("ByteStream.Read " + d.hex() + ": " + status.error_message() + " (" +
          std::to_string(got) + " bytes)");
    }
    return out;
  }

  std::string http_read(const Digest& d, bool keep) {
    CountingSink sink;
    ingot::net::Request request;
    request.target = "/cas/" + d.hex();
    auto response = m_http->send(request, keep ? nullptr : &sink);
    if (!response || response->status != 200) {
      die("GET " + request.target + ": " +
          (response ? std::to_string(response->status) : response.error().message));
    }
    const std::uint64_t got = keep ? response->body.size() : sink.bytes;
    if (got != d.size) {
      die("GET " + request.target + ": " + std::to_string(got) + " bytes");
    }
    return response->body;
  }

  void grpc_batch(const std::vector<Blob>& blobs, std::size_t begin, std::size_t end) {
    reapi::BatchReadBlobsRequest request;
    for (std::size_t i = begin; i < end; ++i) {
      set_digest(request.add_digests(), blobs[i].digest);
    }
    grpc::ClientContext ctx;
    reapi::BatchReadBlobsResponse response;
    const auto status = m_cas->BatchReadBlobs(&ctx, request, &response);
    if (!status.ok() || response.responses_size() != static_cast<int>(end - begin)) {
      die("BatchReadBlobs: " + status.error_message());
    }
    for (const auto& r : response.responses()) {
      if (r.status().code() != 0 || r.data().size() != 1024) {
        die("BatchReadBlobs " + r.digest().hash() + ": " + r.status().message());
      }
    }
  }

private:
  struct CountingSink : ingot::net::BodySink {
    std::uint64_t bytes = 0;
    ingot::Result<void> restart() override {
      bytes = 0;
      return {};
    }
    ingot::Result<void> write(ingot::ByteView data) override {
      bytes += data.size();
      return {};
    }
  };

  const Options& m_options;
  std::shared_ptr<grpc::Channel> m_channel;
  std::unique_ptr<reapi::ContentAddressableStorage::Stub> m_cas;
  std::unique_ptr<bs::ByteStream::Stub> m_bytestream;
  std::unique_ptr<ingot::net::Transport> m_http;
};

// Runs work(i) for i in [0, count) on `threads` threads, each taking the next i.
void parallel(int threads, std::size_t count, const std::function<void(std::size_t)>& work) {
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (std::size_t i = next++; i < count; i = next++) {
        work(i);
      }
    });
  }
  for (auto& t : pool) {
    t.join();
  }
}

Sample median(std::vector<Sample> samples) {
  std::sort(samples.begin(), samples.end(),
            [](const Sample& a, const Sample& b) { return a.rate() < b.rate(); });
  return samples[samples.size() / 2];
}

void report(const char* name, const char* unit, double scale, const std::vector<Sample>& grpc,
            const std::vector<Sample>& http) {
  const Sample g = median(grpc);
  const Sample h = median(http);
  const double ratio = g.rate() / h.rate();
  std::printf("| %s | %.1f %s | %.1f %s | **%.2fx** | >= 0.9x: %s | %.2f / %.2f | %.2f / %.2f |\n",
              name, g.rate() / scale, unit, h.rate() / scale, unit, ratio,
              ratio >= 0.9 ? "met" : "NOT MET", g.client_cpu, g.server_cpu, h.client_cpu,
              h.server_cpu);
  std::fprintf(stderr, "%s rounds (gRPC, HTTP, %s):", name, unit);
  for (std::size_t i = 0; i < grpc.size(); ++i) {
    std::fprintf(stderr, " %.1f/%.1f", grpc[i].rate() / scale, http[i].rate() / scale);
  }
  std::fprintf(stderr, "\n");
}

} // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  Sides sides(o);

  std::mt19937_64 rng(22);
  const Blob large = make_blob(rng, 16u << 20);
  std::vector<Blob> small;
  small.reserve(static_cast<std::size_t>(o.blobs_1k));
  for (int i = 0; i < o.blobs_1k; ++i) {
    small.push_back(make_blob(rng, 1024));
  }
  sides.upload_large(large);
  sides.upload_small(small);
  // Both sides return the bytes stored, once, outside the timed runs.
  if (sides.grpc_read(large.digest, true) != large.bytes ||
      sides.http_read(large.digest, true) != large.bytes) {
    die("the 16 MiB blob read back differs from what was stored");
  }

  std::vector<Sample> grpc_16m, http_16m, grpc_1k, http_1k;
  const double bytes_16m = static_cast<double>(large.bytes.size()) * o.reads_16m;
  const auto batches = (small.size() + o.batch - 1) / static_cast<std::size_t>(o.batch);
  for (int round = 0; round < o.rounds; ++round) {
    auto grpc_large = [&] {
      grpc_16m.push_back(measure(o.server_pid, bytes_16m, [&] {
        for (int i = 0; i < o.reads_16m; ++i) {
          sides.grpc_read(large.digest, false);
        }
      }));
    };
    auto http_large = [&] {
      http_16m.push_back(measure(o.server_pid, bytes_16m, [&] {
        for (int i = 0; i < o.reads_16m; ++i) {
          sides.http_read(large.digest, false);
        }
      }));
    };
    auto grpc_small = [&] {
      grpc_1k.push_back(measure(o.server_pid, static_cast<double>(small.size()), [&] {
        parallel(o.threads, batches, [&](std::size_t b) {
          const std::size_t begin = b * static_cast<std::size_t>(o.batch);
          sides.grpc_batch(small, begin, std::min(small.size(), begin + o.batch));
        });
      }));
    };
    auto http_small = [&] {
      http_1k.push_back(measure(o.server_pid, static_cast<double>(small.size()), [&] {
        parallel(o.threads, small.size(),
                 [&](std::size_t i) { sides.http_read(small[i].digest, false); });
      }));
    };
    // Alternate which side goes first, so that neither always runs on a warmer machine.
    if (round % 2 == 0) {
      grpc_large(), http_large(), grpc_small(), http_small();
    } else {
      http_large(), grpc_large(), http_small(), grpc_small();
    }
    std::fprintf(stderr, "round %d/%d done\n", round + 1, o.rounds);
  }

  std::printf("| test | gRPC | HTTP | gRPC/HTTP | target | gRPC CPU s client / server | "
              "HTTP CPU s client / server |\n");
  std::printf("|---|---:|---:|---:|---|---:|---:|\n");
  report("ByteStream.Read 16 MiB vs GET /cas", "MB/s", 1e6, grpc_16m, http_16m);
  report("BatchReadBlobs 1 KiB vs GET /cas", "blobs/s", 1, grpc_1k, http_1k);
  return 0;
}
