#!/usr/bin/env bash
# A 4 GiB PUT and GET stream through the server: both succeed byte for byte and the server's
# peak RSS stays under 150 MiB (issue: "Streaming both ways").
# Usage: large_body.sh PATH_TO_INGOT
# Environment: INGOT_LARGE_BODY_MIB (default 4096), INGOT_SANITIZED (set: skip the RSS limit).
set -euo pipefail
ingot=$1
size_mib=${INGOT_LARGE_BODY_MIB:-4096}
limit_kib=$((150 * 1024))

work=$(mktemp -d "${TMPDIR:-/var/tmp}/ingot-large-XXXXXX")
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Incompressible, reproducible content without holding it anywhere: AES-CTR keystream of zeros.
gen() {
  head -c "$((size_mib * 1024 * 1024))" /dev/zero |
    openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 0 2>/dev/null
}

mkfifo "$work/log"
"$ingot" serve --data "$work/data" --listen 127.0.0.1:0 --anonymous write 2>"$work/log" &
server_pid=$!
exec 3<"$work/log"
read -r -t 30 first <&3 || fail "server did not start"
port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/.*|\1|p' <<<"$first")
[[ -n $port ]] || fail "no port in: $first"
cat <&3 >"$work/access.log" &

echo "== PUT ${size_mib} MiB to /kv/ (hashed on the way)"
# From a pipe, curl streams the body chunked: the server never learns the size up front.
# /kv/ needs no digest up front, so the content is generated and hashed only once here.
mkfifo "$work/hash.fifo"
sha256sum <"$work/hash.fifo" | cut -c1-64 >"$work/digest" &
hasher=$!
gen | tee "$work/hash.fifo" |
  curl -sS -o "$work/put.out" -w '%{http_code}' -T - "http://127.0.0.1:$port/kv/large" >"$work/code"
wait "$hasher"
code=$(cat "$work/code")
[[ $code == 200 ]] || fail "PUT answered $code: $(cat "$work/put.out")"
digest=$(cat "$work/digest")
[[ ${#digest} == 64 ]] || fail "could not hash the generated content"
url="http://127.0.0.1:$port/cas/$digest"

echo "== GET ${size_mib} MiB and compare"
got=$(curl -sS --fail "$url" | sha256sum | cut -c1-64)
[[ $got == "$digest" ]] || fail "GET returned content with digest $got, expected $digest"

hwm=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
echo "server peak RSS: ${hwm} KiB (limit ${limit_kib} KiB)"
if [[ -n ${INGOT_SANITIZED:-} ]]; then
  echo "note: sanitizer build, whose shadow memory makes RSS meaningless: limit not checked"
else
  ((hwm < limit_kib)) || fail "server peak RSS ${hwm} KiB is over ${limit_kib} KiB"
fi
echo "PASS: ${size_mib} MiB streamed both ways; peak RSS ${hwm} KiB"
