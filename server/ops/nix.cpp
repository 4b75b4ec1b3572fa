// Operations of the Nix binary cache: the narinfos and pins (server/nix_cache.hpp). Its other
// files are blobs named by `nix` entries, read and written by the blob operations.
#include "server/nix_cache.hpp"
#include "server/ops/ops.hpp"

namespace ingot::server {

Result<std::string> Ops::nix_cache_info(const Caller& caller) {
  INGOT_TRY(enter(caller, Op::nix_cache_info));
  return m_nix->cache_info();
}

Result<std::string> Ops::get_narinfo(const Caller& caller, std::string_view hash32) {
  INGOT_TRY(enter(caller, Op::read_narinfo));
  auto answer = m_nix->get_narinfo(hash32);
  if (!answer && answer.error().code == Errc::would_block) {
    return std::move(answer).error(); // not a lookup yet: it is made again where it may wait
  }
  count(Lookup::nix, answer.has_value());
  if (!answer) {
    return std::move(answer).error();
  }
  return std::move(answer->text);
}

Result<void> Ops::put_narinfo(const Caller& caller, std::string_view hash32,
                              std::string_view text) {
  INGOT_TRY(enter(caller, Op::write_narinfo));
  return m_nix->put_narinfo(hash32, text);
}

Result<std::size_t> Ops::pin_nix(const Caller& caller, std::string_view hash32) {
  INGOT_TRY(enter(caller, Op::nix_pin));
  auto blobs = m_nix->closure(hash32);
  if (!blobs) {
    return std::move(blobs).error();
  }
  const std::size_t count = blobs->size();
  INGOT_TRY(m_store.pin(nix_pin_name(hash32), std::move(*blobs)));
  return count;
}

Result<void> Ops::unpin_nix(const Caller& caller, std::string_view hash32) {
  INGOT_TRY(enter(caller, Op::nix_pin));
  auto pinned = m_store.is_pinned(nix_pin_name(hash32));
  if (!pinned) {
    return std::move(pinned).error();
  }
  if (!*pinned) {
    return make_error(Errc::not_found, "/nix/store/" + std::string(hash32) + "-… is not pinned");
  }
  return m_store.unpin(nix_pin_name(hash32));
}

} // namespace ingot::server
