#include "client/answers.hpp"

namespace ingot::client {

using nlohmann::json;

bool retryable(unsigned status) {
  // 501 (not implemented) and 507 (no room) would answer the same again at once.
  return status >= 500 && status != 501 && status != 507;
}

Errc errc_of(unsigned status) {
  switch (status) {
  case 400:
    return Errc::invalid_argument;
  case 401:
  case 403:
    return Errc::unauthorized;
  case 404:
    return Errc::not_found;
  case 409:
    return Errc::busy;
  case 413:
    return Errc::too_large;
  case 503:
    return Errc::busy;
  case 507:
    return Errc::no_space;
  default:
    return Errc::io;
  }
}

Error status_error(const Response& r, const std::string& what) {
  std::string line = r.body.substr(0, r.body.find('\n'));
  if (line.size() > 300) {
    line.resize(300);
  }
  const std::string answer =
      "(HTTP " + std::to_string(r.status) + (line.empty() ? "" : ": ") + line + ")";
  // Whatever the request was, a refused token has one fix, and the user's side names it.
  if (r.status == 401) {
    return make_error(
        Errc::unauthorized,
        r.token_sent
            ? "the server refused the token " + answer + "; check --token or INGOT_TOKEN"
            : "the server needs a token " + answer + "; give --token, --token-file or INGOT_TOKEN");
  }
  if (r.status == 403) {
    return make_error(Errc::unauthorized,
                      "the token is not allowed to do this " + answer +
                          "; use a token with that scope (an admin makes one: ingot token create "
                          "--scope SCOPES --name NAME)");
  }
  std::string tries;
  // A 404 after a 503 is the server's answer, not a give-up.
  if (r.attempts > 1 && retryable(r.status)) {
    tries = " (gave up after " + std::to_string(r.attempts) + " tries)";
  }
  return make_error(errc_of(r.status), what + ": HTTP " + std::to_string(r.status) +
                                           (line.empty() ? "" : " " + line) + tries);
}

Result<json> json_answer(Result<Response> response, const std::string& what) {
  if (!response) {
    return std::move(response).error();
  }
  if (response->status / 100 != 2) {
    return status_error(*response, what);
  }
  json j = json::parse(response->body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(Errc::corrupt, what + ": the server's answer is not a JSON object");
  }
  return j;
}

} // namespace ingot::client
