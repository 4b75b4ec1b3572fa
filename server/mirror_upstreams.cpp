#include "server/mirror_upstreams.hpp"

#include "net/http_pool.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <vector>

namespace ingot::server {

namespace {

// An absolute URL's parts: "https", "host:port", "/path?query" (the path "/" when empty).
struct UrlParts {
  std::string scheme;
  std::string authority;
  std::string target;
};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The scheme of an absolute reference ("HTTP:" in "HTTP://x"), or empty (RFC 3986 3.1).
std::string_view scheme_of(std::string_view ref) {
  const auto colon = ref.find(':');
  if (colon == std::string_view::npos || colon == 0 ||
      !std::isalpha(static_cast<unsigned char>(ref[0]))) {
    return {};
  }
  const auto scheme = ref.substr(0, colon);
  const bool valid = std::all_of(scheme.begin(), scheme.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '+' || c == '-' || c == '.';
  });
  return valid ? scheme : std::string_view();
}

UrlParts split_url(std::string_view url) {
  UrlParts parts;
  parts.scheme = lower(scheme_of(url));
  auto rest = url.substr(parts.scheme.size() + 3); // after "://"
  const auto end = rest.find_first_of("/?");
  parts.authority = std::string(rest.substr(0, end));
  parts.target = end == std::string_view::npos ? "/" : std::string(rest.substr(end));
  if (parts.target.starts_with('?')) {
    parts.target.insert(0, "/");
  }
  return parts;
}

// RFC 3986 5.2.4 on a path that starts with '/': "/a/b/../c/./d" is "/a/c/d"; a ".." above
// the root stays at the root.
std::string remove_dot_segments(std::string_view path) {
  std::vector<std::string_view> kept;
  bool directory = false; // ends with "." or "..": the result names a directory
  std::size_t at = 1;
  while (true) {
    const auto slash = path.find('/', at);
    const auto segment =
        path.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at);
    directory = segment == "." || segment == "..";
    if (segment == "..") {
      if (!kept.empty()) {
        kept.pop_back();
      }
    } else if (segment != ".") {
      kept.push_back(segment);
    }
    if (slash == std::string_view::npos) {
      break;
    }
    at = slash + 1;
  }
  std::string out;
  for (const auto segment : kept) {
    out += "/" + std::string(segment);
  }
  if (directory || out.empty()) {
    out += "/";
  }
  return out;
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

class HttpUpstreams final : public Upstreams {
public:
  struct One {
    std::string url; // as configured, without a trailing '/'
    std::unique_ptr<net::Transport> transport;
  };

  HttpUpstreams(std::map<std::string, One, std::less<>> upstreams,
                std::chrono::milliseconds timeout)
      : m_upstreams(std::move(upstreams)), m_timeout(timeout) {}

  Result<UpstreamAnswer> get(std::string_view mirror, const UpstreamGet& get,
                             UpstreamBody& body) override {
    const auto& one = m_upstreams.find(mirror)->second;
    net::Request request;
    request.method = net::Method::get;
    request.target = "/" + get.path;
    // The same conditions on every hop: the ETag a 304 answers to is the final server's, the
    // one recorded from its 200.
    net::Fields fields;
    if (!get.if_none_match.empty()) {
      fields.emplace_back("If-None-Match", get.if_none_match);
    }
    if (!get.if_modified_since.empty()) {
      fields.emplace_back("If-Modified-Since", get.if_modified_since);
    }
    std::string current = one.url + "/" + get.path;
    std::string chain = current;
    net::Transport* transport = one.transport.get();
    std::shared_ptr<net::Transport> hop; // keeps a redirect's transport while it is used
    for (unsigned redirects = 0;; ++redirects) {
      auto response = transport->send(request, &body, fields);
      if (!response && redirects > 0 && response.error().code != Errc::too_large) {
        // The configured upstream answered; the host it sent us to did not.
        return make_error(Errc::upstream, chain + ": " + response.error().message);
      }
      if (!response) {
        return std::move(response).error();
      }
      if (!is_redirect(response->status)) {
        return UpstreamAnswer{response->status, response->etag, response->last_modified};
      }
      const auto status = std::to_string(response->status);
      if (response->location.empty()) {
        return make_error(Errc::upstream, current + " answered " + status + " with no Location");
      }
      auto next = resolve_redirect(current, response->location);
      if (!next) {
        return make_error(Errc::upstream,
                          current + " answered " + status + ": " + next.error().message);
      }
      chain += " -> " + *next;
      if (redirects == k_max_redirects) {
        return make_error(Errc::upstream, "more than " + std::to_string(k_max_redirects) +
                                              " redirects (a loop?): " + chain);
      }
      auto parts = split_url(*next);
      auto to = transport_for(parts.scheme + "://" + parts.authority);
      if (!to) {
        return make_error(Errc::upstream,
                          current + " answered " + status + ": " + to.error().message);
      }
      hop = std::move(*to);
      transport = hop.get();
      request.target = std::move(parts.target);
      current = std::move(*next);
    }
  }

  std::string url(std::string_view mirror, std::string_view path) const override {
    const auto found = m_upstreams.find(mirror);
    return (found == m_upstreams.end() ? std::string("?") : found->second.url) + "/" +
           std::string(path);
  }

private:
  // A pool per origin a redirect led to, a few kept: GitHub's assets all go to one host.
  static constexpr std::size_t k_max_redirect_origins = 8;

  Result<std::shared_ptr<net::Transport>> transport_for(const std::string& origin) {
    std::lock_guard lock(m_hops_mutex);
    if (const auto found = m_hops.find(origin); found != m_hops.end()) {
      return found->second;
    }
    auto address = net::parse_server_url(origin);
    if (!address) {
      return std::move(address).error();
    }
    if (m_hops.size() >= k_max_redirect_origins) {
      m_hops.clear(); // a transport in use lives on in its caller's shared_ptr
    }
    std::shared_ptr<net::Transport> transport =
        net::make_http_transport(std::move(*address), {}, m_timeout);
    m_hops.emplace(origin, transport);
    return transport;
  }

  std::map<std::string, One, std::less<>> m_upstreams;
  std::chrono::milliseconds m_timeout;
  std::mutex m_hops_mutex;
  std::map<std::string, std::shared_ptr<net::Transport>> m_hops;
};

} // namespace

Result<std::string> resolve_redirect(std::string_view from, std::string_view location) {
  const auto refuse = [&](const std::string& why) {
    return make_error(Errc::upstream,
                      "refused the redirect to '" + std::string(location) + "': " + why);
  };
  if (const auto hash = location.find('#'); hash != std::string_view::npos) {
    location = location.substr(0, hash);
  }
  if (location.empty()) {
    return refuse("it is empty");
  }
  if (std::any_of(location.begin(), location.end(),
                  [](unsigned char c) { return c <= 0x20 || c == 0x7f || c == '\\'; })) {
    return refuse("it holds a space, a control character or a '\\'");
  }
  const auto base = split_url(from);
  std::string url;
  if (const auto scheme = lower(scheme_of(location)); !scheme.empty()) {
    if (scheme != "http" && scheme != "https") {
      return refuse("only http:// and https:// are followed");
    }
    if (!location.substr(scheme.size()).starts_with("://")) {
      return refuse("an absolute URL needs '//' and a host");
    }
    url = scheme + std::string(location.substr(scheme.size()));
  } else if (location.starts_with("//")) {
    url = base.scheme + ":" + std::string(location);
  } else {
    std::string target;
    const auto base_path = base.target.substr(0, base.target.find('?'));
    if (location.starts_with('/')) {
      target = location;
    } else if (location.starts_with('?')) {
      target = base_path + std::string(location);
    } else {
      target = base_path.substr(0, base_path.rfind('/') + 1) + std::string(location);
    }
    url = base.scheme + "://" + base.authority + target;
  }
  auto parts = split_url(url);
  if (parts.authority.empty()) {
    return refuse("it names no host");
  }
  if (parts.authority.find('@') != std::string::npos) {
    return refuse("it carries credentials");
  }
  if (base.scheme == "https" && parts.scheme == "http") {
    return refuse("it goes from https to http, and the file would travel without TLS");
  }
  const auto query = parts.target.find('?');
  const auto path = remove_dot_segments(std::string_view(parts.target).substr(0, query));
  return parts.scheme + "://" + parts.authority + path +
         (query == std::string::npos ? std::string() : parts.target.substr(query));
}

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
    auto address = net::parse_server_url(m.url);
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
    upstreams.emplace(m.name, HttpUpstreams::One{
                                  url, net::make_http_transport(std::move(*address), {}, timeout)});
  }
  return std::shared_ptr<Upstreams>(std::make_shared<HttpUpstreams>(std::move(upstreams), timeout));
}

} // namespace ingot::server
