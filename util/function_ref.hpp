// A non-owning reference to a callable, for callback parameters that are only called before
// the function taking them returns. Unlike std::function it never copies the callable, so it
// never allocates: it suits per-request paths.
#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace ingot {

template <typename Signature>
class FunctionRef;

template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
public:
  template <typename F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> &&
           std::is_invocable_r_v<R, F&, Args...>) FunctionRef(F&& f)
  noexcept // NOLINT(google-explicit-constructor): used like a function type
      : m_object(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        m_call([](void* object, Args... args) -> R {
          return std::invoke(*static_cast<std::remove_reference_t<F>*>(object),
                             std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return m_call(m_object, std::forward<Args>(args)...); }

private:
  void* m_object;
  R (*m_call)(void*, Args...);
};

} // namespace ingot
