// One result type for the whole code base: a value or an Error a user can act on.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace ingot {

enum class Errc {
  not_found,
  corrupt,
  io,
  no_space,
  invalid_argument,
  unauthorized, // no credentials, or credentials that are not valid
  forbidden,    // valid credentials without the rights the request needs
  timeout,
  busy,      // a resource is held by someone else (a locked data dir)
  too_large, // over a configured size limit
  conflict,  // contradicts what is stored, or depends on what is not (HTTP 409)
  upstream,  // a server Ingot fetches from (--mirror) failed (HTTP 502)
  // A server Ingot fetches from sent a file whose digest is not the one asked for (HTTP 502;
  // over gRPC FAILED_PRECONDITION, which clients do not retry: the same bytes would come).
  mismatch,
  // Would have waited for the disk where the caller asked for memory only
  // (cas/read_tier.hpp): a signal to try again where waiting is allowed, never an answer.
  would_block,
};

std::string_view to_string(Errc code);

struct Error {
  Errc code;
  std::string message;
};

[[nodiscard]] inline Error make_error(Errc code, std::string message) {
  return Error{code, std::move(message)};
}

// A small stand-in for C++23 std::expected: holds either a T or an Error.
template <class T>
class [[nodiscard]] Result {
public:
  Result(T value) : m_v(std::in_place_index<0>, std::move(value)) {} // NOLINT: implicit by design
  Result(Error error) : m_v(std::in_place_index<1>, std::move(error)) {} // NOLINT

  bool has_value() const { return m_v.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(m_v); }
  const T& value() const& { return std::get<0>(m_v); }
  T&& value() && { return std::get<0>(std::move(m_v)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(m_v); }
  Error&& error() && { return std::get<1>(std::move(m_v)); }

private:
  std::variant<T, Error> m_v;
};

template <>
class [[nodiscard]] Result<void> {
public:
  Result() = default;
  Result(Error error) : m_error(std::move(error)), m_ok(false) {} // NOLINT: implicit by design

  bool has_value() const { return m_ok; }
  explicit operator bool() const { return m_ok; }
  void value() const {}
  const Error& error() const& { return m_error; }
  Error&& error() && { return std::move(m_error); }

private:
  Error m_error{Errc::io, {}};
  bool m_ok = true;
};

// Propagate an error from an expression that yields a Result.
#define INGOT_TRY(expr)                                                                            \
  do {                                                                                             \
    if (auto ingot_try_r = (expr); !ingot_try_r) {                                                 \
      return std::move(ingot_try_r).error();                                                       \
    }                                                                                              \
  } while (false)

} // namespace ingot
