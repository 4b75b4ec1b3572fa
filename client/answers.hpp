// The server's answers as results, for the Client's files: which statuses are worth another
// try, which Errc each status is, and the one-line error a user reads.
#pragma once

#include "client/transport.hpp"
#include "util/result.hpp"

#include <string>

#include <nlohmann/json.hpp>

namespace ingot::client {

// Whether a status is worth another try (a 5xx that another try may not get again).
[[nodiscard]] bool retryable(unsigned status);
[[nodiscard]] Errc errc_of(unsigned status);
// "WHAT: HTTP STATUS <the server's one-line error>", and the tries when a retryable status was
// given up on. A 401 or 403 names the token and its fix instead of WHAT: the step that met it
// is the client's business, the token is the user's.
[[nodiscard]] Error status_error(const Response& r, const std::string& what);
// A 2xx answer holding a JSON object; anything else is an error about `what`.
[[nodiscard]] Result<nlohmann::json> json_answer(Result<Response> response,
                                                 const std::string& what);

} // namespace ingot::client
