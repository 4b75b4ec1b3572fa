#include "server/mirror_upstreams.hpp"

#include "client/http_pool.hpp"

#include <map>

namespace ingot::server {

namespace {

class BodyAdapter final : public client::BodySink {
public:
  explicit BodyAdapter(UpstreamBody& body) : m_body(body) {}
  Result<void> restart() override { return m_body.restart(); }
  Result<void> write(ByteView data) override { return m_body.write(data); }

private:
  UpstreamBody& m_body;
};

class HttpUpstreams final : public Upstreams {
public:
  struct One {
    std::string url; // as configured, without a trailing '/'
    std::unique_ptr<client::Transport> transport;
  };

  explicit HttpUpstreams(std::map<std::string, One, std::less<>> upstreams)
      : m_upstreams(std::move(upstreams)) {}

  Result<UpstreamAnswer> get(std::string_view mirror, const UpstreamGet& get,
                             UpstreamBody& body) override {
    const auto& one = m_upstreams.find(mirror)->second;
    client::Request request;
    request.method = client::Method::get;
    request.target = "/" + get.path;
    client::Fields fields;
    if (!get.if_none_match.empty()) {
      fields.emplace_back("If-None-Match", get.if_none_match);
    }
    if (!get.if_modified_since.empty()) {
      fields.emplace_back("If-Modified-Since", get.if_modified_since);
    }
    BodyAdapter sink(body);
    auto response = one.transport->send(request, &sink, fields);
    if (!response) {
      return std::move(response).error();
    }
    return UpstreamAnswer{response->status, response->etag, response->last_modified};
  }

  std::string url(std::string_view mirror, std::string_view path) const override {
    const auto found = m_upstreams.find(mirror);
    return (found == m_upstreams.end() ? std::string("?") : found->second.url) + "/" +
           std::string(path);
  }

private:
  std::map<std::string, One, std::less<>> m_upstreams;
};

} // namespace

Result<std::shared_ptr<Upstreams>> make_upstreams(const std::vector<MirrorSpec>& mirrors,
                                                  std::chrono::milliseconds timeout) {
  if (mirrors.empty()) {
    return std::shared_ptr<Upstreams>();
  }
  std::map<std::string, HttpUpstreams::One, std::less<>> upstreams;
  for (const auto& m : mirrors) {
    if (!(m.url.starts_with("http://") || m.url.starts_with("https://"))) {
      return make_error(Errc::invalid_argument,
                        "--mirror " + m.name + "=" + m.url +
                            ": the URL must start with http:// or https://");
    }
    auto address = client::parse_server_url(m.url);
    if (!address) {
      return make_error(Errc::invalid_argument,
                        "--mirror " + m.name + "=" + m.url + ": " + address.error().message);
    }
    if (upstreams.contains(m.name)) {
      return make_error(Errc::invalid_argument, "--mirror " + m.name + " is given twice");
    }
    std::string url = m.url;
    while (url.ends_with('/')) {
      url.pop_back();
    }
    upstreams.emplace(m.name, HttpUpstreams::One{url, client::make_http_transport(
                                                          std::move(*address), {}, timeout)});
  }
  return std::shared_ptr<Upstreams>(std::make_shared<HttpUpstreams>(std::move(upstreams)));
}

} // namespace ingot::server
