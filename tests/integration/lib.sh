# Shared helpers for the integration tests; sourced by each script, which gets the path of the
# `ingot` binary as $1. Every script runs on its own temp dir, starts its servers on free ports
# (--listen 127.0.0.1:0, port read from the server's first line), prints what it checks, stops
# at the first failure with a message saying what was expected, and always kills its servers.
set -euo pipefail

INGOT=${1:?usage: $0 PATH_TO_INGOT}
TEST_NAME=$(basename "$0" .sh)

if [[ ! -x $INGOT ]]; then
  echo "FAIL [$TEST_NAME]: '$INGOT' is not an executable; build the ingot target first" >&2
  exit 1
fi
for _tool in curl mkfifo timeout; do
  if ! command -v "$_tool" >/dev/null; then
    echo "FAIL [$TEST_NAME]: $_tool is needed and is not installed" >&2
    exit 1
  fi
done

_TMP_ROOT=${INGOT_TEST_TMP:-${TMPDIR:-/tmp}}
mkdir -p "$_TMP_ROOT"
TMP=$(mktemp -d "$_TMP_ROOT/ingot-$TEST_NAME-XXXXXX")

# The machine's own settings must not change what a test sees: `ingot serve` reads
# /etc/ingot/ingot.toml and INGOT_<FLAG> variables, the client INGOT_SERVER and INGOT_TOKEN.
# Only the test harness's own variables (INGOT_TEST_*, INGOT_SANITIZED, INGOT_LARGE_BODY_MIB,
# INGOT_SOAK_*, INGOT_BUILD_DIR) stay; scripts set the others where they test them.
while IFS='=' read -r _name _; do
  case $_name in
  INGOT_TEST_* | INGOT_SANITIZED | INGOT_LARGE_BODY_MIB | INGOT_SOAK_* | INGOT_BUILD_DIR) ;;
  INGOT_*) unset "$_name" ;;
  esac
done < <(env)
: >"$TMP/no-config.toml"
export INGOT_CONFIG="$TMP/no-config.toml"

# Everything started in the background that must not outlive the script.
_PIDS=()
SERVER_PID=
SERVER_LOG=
PORT=
URL=
# Functions a script adds to run at exit after its processes are gone and before $TMP is
# removed (full_disk.sh unmounts the file system it mounted under $TMP).
_CLEANUP_HOOKS=()

_cleanup() {
  local status=$? pid hook
  for pid in "${_PIDS[@]}" $(jobs -p); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  for hook in "${_CLEANUP_HOOKS[@]}"; do
    "$hook" || true
  done
  rm -rf "$TMP"
  if [[ $status -eq 0 ]]; then
    echo "PASS [$TEST_NAME]"
  fi
  return "$status"
}
trap _cleanup EXIT

step() { echo "== $*"; }
ok() { echo "   ok: $*"; }

fail() {
  echo "FAIL [$TEST_NAME]: $*" >&2
  if [[ -n $SERVER_LOG && -f $SERVER_LOG ]]; then
    echo "--- last lines of the server's stderr ($SERVER_LOG):" >&2
    tail -n 15 "$SERVER_LOG" >&2 || true
  fi
  exit 1
}

# The scripts that read JSON need python3 (a test dependency, scripts/deps.sh).
# json FILE EXPR: a Python expression over the JSON in FILE (as `j`), printed as JSON.
json() {
  python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(json.dumps(eval(sys.argv[2])))' \
    "$1" "$2" || fail "cannot evaluate $2 on $(head -c 300 "$1")"
}

# expect_json FILE PYTHON_CONDITION WHAT: fails with WHAT unless the condition holds.
expect_json() {
  python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
    "$1" "$2" || fail "$3: $2 does not hold for $(tr -d ' \n' <"$1" | head -c 1500)"
}

skip() {
  echo "SKIP [$TEST_NAME]: $*"
  exit 77
}

# mount_scratch_disk MIB: a new ext4 of MIB MiB on a loop device, mounted at $TMP/mnt (sets
# MNT and LOOP) and unmounted at exit, for tests of a full disk. Exits 77 (skipped) where it
# cannot mount (not root, no loop device, mount refused), and only then.
LOOP=
MNT=
mount_scratch_disk() {
  local mib=$1 tool
  for tool in mkfs.ext4 losetup mount umount mountpoint; do
    command -v "$tool" >/dev/null || fail "$tool is needed and is not installed (scripts/deps.sh test)"
  done
  _CLEANUP_HOOKS+=(_unmount_scratch_disk)
  [[ $(id -u) -eq 0 ]] || skip "mounting a loop device needs root (running as uid $(id -u))"
  local img="$TMP/disk.img"
  truncate -s "${mib}M" "$img" || fail "truncate -s ${mib}M $img failed"
  # -m 0: no blocks reserved for root, so root here sees the same full disk as a service user.
  mkfs.ext4 -q -F -m 0 "$img" >"$TMP/mkfs.log" 2>&1 || fail "mkfs.ext4 failed: $(cat "$TMP/mkfs.log")"
  LOOP=$(losetup --find --show "$img" 2>"$TMP/losetup.log") ||
    skip "no loop device to attach $img to: $(head -c 300 "$TMP/losetup.log")"
  MNT="$TMP/mnt"
  mkdir -p "$MNT"
  mount -t ext4 "$LOOP" "$MNT" 2>"$TMP/mount.log" ||
    skip "cannot mount $LOOP (ext4) on $MNT: $(head -c 300 "$TMP/mount.log")"
}

# Run by the exit trap once the servers are killed (a busy mount cannot be unmounted), before
# $TMP, with the mount point in it, is removed.
_unmount_scratch_disk() {
  if [[ -n $MNT ]] && mountpoint -q "$MNT"; then
    umount "$MNT" || umount -l "$MNT" || echo "WARNING: cannot unmount $MNT" >&2
  fi
  if [[ -n $LOOP ]]; then
    losetup -d "$LOOP" 2>/dev/null || true
  fi
}

# cli NAME ARGS...: runs ingot; stdout to $TMP/NAME.out, stderr to
# $TMP/NAME.err; sets RC.
cli() {
  local name=$1
  shift
  RC=0
  "$INGOT" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || RC=$?
}

expect_rc() {
  local want=$1 name=$2
  [[ $RC -eq $want ]] ||
    fail "$name exited $RC, expected $want; stderr: $(head -c 800 "$TMP/$name.err")"
}

# refused NAME PATTERN SERVE_ARGS...: `ingot serve --data $DATA` with these flags exits 2, its
# message matching PATTERN (grep -E).
refused() {
  local name=$1 pattern=$2
  shift 2
  cli "$name" serve --data "$DATA" --listen 127.0.0.1:0 "$@"
  expect_rc 2 "$name"
  grep -qE -- "$pattern" "$TMP/$name.err" || fail "$name: $(cat "$TMP/$name.err")"
}

# start_server DATA_DIR [serve options...]: starts `ingot serve` on a free port and returns once
# it has printed its first line ("ingot: serving DIR (…) on http://127.0.0.1:PORT/", https with
# TLS, then " and http://127.0.0.1:PORT/" with --http-listen), read through a fifo: no sleeping.
# Sets SERVER_PID, SERVER_LOG (all of its stderr), PORT, URL and HTTP_PORT.
start_server() {
  local data=$1
  shift
  local n=${#_PIDS[@]}
  local fifo="$TMP/server-$n.fifo"
  SERVER_LOG="$TMP/server-$n.log"
  mkfifo "$fifo"
  "$INGOT" serve --listen 127.0.0.1:0 --data "$data" "$@" 2>"$fifo" &
  SERVER_PID=$!
  _PIDS+=("$SERVER_PID")
  local fd line=
  exec {fd}<"$fifo"
  if ! IFS= read -r -t 30 -u "$fd" line; then
    exec {fd}<&-
    fail "ingot serve $* printed no first line within 30 s (got '$line')"
  fi
  printf '%s\n' "$line" >"$SERVER_LOG"
  # Keep draining its stderr (the access log) so that the server never blocks on it.
  cat <&"$fd" >>"$SERVER_LOG" &
  _PIDS+=("$!")
  exec {fd}<&-
  rm -f "$fifo"
  if [[ ! $line =~ ^ingot:\ serving\ .*\ on\ (https?)://127\.0\.0\.1:([0-9]+)/(\ and\ http://127\.0\.0\.1:([0-9]+)/)?$ ]]; then
    fail "unexpected first line from 'ingot serve $*': $line"
  fi
  PORT=${BASH_REMATCH[2]}
  URL="${BASH_REMATCH[1]}://127.0.0.1:$PORT"
  HTTP_PORT=${BASH_REMATCH[4]} # the plain listener beside HTTPS (--http-listen), if any
}

# grpc_port: the port of the last server's --grpc-listen, from the line it prints after the
# first (sets GRPC_PORT; fails when none comes within 30 s).
grpc_port() {
  GRPC_PORT=$(timeout 30 tail -n +1 -f "$SERVER_LOG" | grep -m1 -oE 'on grpcs?://127\.0\.0\.1:[0-9]+' |
    grep -oE '[0-9]+$') || true
  [[ -n $GRPC_PORT ]] || fail "the server printed no gRPC address: $(head -c 600 "$SERVER_LOG")"
}

# wait_exit PID SECONDS: waits for a process of ours to exit, at most SECONDS; sets
# EXIT_STATUS, or fails.
wait_exit() {
  local pid=$1 limit=$2
  if ! timeout "$limit" tail --pid="$pid" -s 0.05 -f /dev/null; then
    fail "process $pid did not exit within $limit s"
  fi
  EXIT_STATUS=0
  wait "$pid" || EXIT_STATUS=$?
}

# stop_server [PID]: SIGTERM, then waits (at most 20 s) for a clean exit.
# shellcheck disable=SC2120 # PID is optional: the last server started by default
stop_server() {
  local pid=${1:-$SERVER_PID}
  kill -TERM "$pid" 2>/dev/null || fail "server $pid is not running"
  wait_exit "$pid" 20
  [[ $EXIT_STATUS -eq 0 ]] || fail "server $pid exited with status $EXIT_STATUS after SIGTERM"
}

# req METHOD PATH [curl options...]: one request to $URL; sets STATUS, BODY (a file), BODY_SIZE
# and HEADERS (a file, CRs stripped: the final response's header, after any 100 Continue).
# Shell builtins where possible: these run a few hundred times per script.
BODY="$TMP/body"
HEADERS="$TMP/headers"
req() {
  local method=$1 path=$2
  shift 2
  # curl --head writes the header to -o as well: a HEAD's "body" is checked by curl itself,
  # which fails on bytes after a HEAD response's header.
  local -a how=(-X "$method" -o "$BODY")
  if [[ $method == HEAD ]]; then
    how=(--head -o /dev/null)
  fi
  local out
  rm -f "$BODY"
  out=$(curl -sS --max-time 60 "${how[@]}" -D "$TMP/headers.raw" -w '%{http_code} %{size_download}' \
    "$@" "$URL$path") || fail "curl $method $path failed (exit $?)"
  STATUS=${out% *}
  BODY_SIZE=${out#* }
  [[ -f $BODY ]] || : >"$BODY" # curl creates no file for an empty body
  local line
  local -a last=()
  while IFS= read -r line; do
    line=${line%$'\r'}
    if [[ $line == HTTP/* ]]; then
      last=()
    fi
    last+=("$line")
  done <"$TMP/headers.raw"
  printf '%s\n' "${last[@]}" >"$HEADERS"
  check_response_invariants "$method $path"
}

# header NAME: the value of a header of the last response (empty when absent).
header() {
  local name=${1,,} line field value
  while IFS= read -r line; do
    field=${line%%:*}
    if [[ $field != "$line" && ${field,,} == "$name" ]]; then
      value=${line#*:}
      printf '%s\n' "${value#"${value%%[![:space:]]*}"}"
      return 0
    fi
  done <"$HEADERS"
}

# What every response must satisfy: an exact Content-Length, and for an error a one-line
# plain-text body that says something.
check_response_invariants() {
  local what=$1 length
  length=$(header Content-Length)
  [[ -n $length ]] || fail "$what: $STATUS response has no Content-Length"
  if [[ $what != HEAD* && $BODY_SIZE -ne $length ]]; then
    fail "$what: Content-Length $length but $BODY_SIZE body bytes"
  fi
  if [[ $STATUS -ge 400 && $what != HEAD* ]]; then
    local -a lines=()
    mapfile lines <"$BODY"
    [[ ${#lines[@]} -eq 1 && ${lines[0]} == ?*$'\n' ]] ||
      fail "$what: $STATUS error body is not one line: $(head -c 300 "$BODY")"
    [[ $(header Content-Type) == text/plain* ]] ||
      fail "$what: $STATUS error body is '$(header Content-Type)', not text/plain"
  fi
}

# expect STATUS METHOD PATH [curl options...]: req, and fail unless it answered STATUS.
expect() {
  local want=$1
  shift
  req "$@"
  [[ $STATUS == "$want" ]] ||
    fail "$1 $2: expected $want, got $STATUS: $(head -c 300 "$BODY")"
  local shown=$2
  [[ ${#shown} -le 100 ]] || shown="${shown:0:100}... (${#2} characters)"
  ok "$1 $shown -> $STATUS"
}

# expect_header NAME VALUE_REGEX: the last response's header matches.
expect_header() {
  local value
  value=$(header "$1")
  [[ $value =~ $2 ]] || fail "header $1 is '$value', expected to match /$2/"
}

# expect_body_file FILE: the last response's body equals FILE byte for byte.
expect_body_file() {
  cmp -s "$BODY" "$1" || fail "body ($(stat -c %s "$BODY") bytes) differs from $1 ($(stat -c %s "$1") bytes)"
}

# expect_body TEXT: the last response's body is TEXT exactly.
expect_body() {
  local got
  got=$(cat "$BODY"; echo x)
  got=${got%x}
  [[ $got == "$1" ]] || fail "body is '$(head -c 300 "$BODY")', expected '$1'"
}

# slice FILE OFFSET LENGTH: those bytes of FILE on stdout.
slice() { dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none; }

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# random_file PATH BYTES: incompressible content.
random_file() { head -c "$2" /dev/urandom >"$1"; }

# text_file PATH LINES: compressible content.
text_file() { seq -f 'line %g of a compressible text file, repeated often' 1 "$2" >"$1"; }

# token_create DATA SCOPES NAME: prints the new token (only the token: stdout). DATA is made a
# data dir first if it is not one yet (`ingot init`; token create refuses a missing one), so
# that tokens can be made before the server starts.
token_create() {
  "$INGOT" init --data "$1" >/dev/null &&
    "$INGOT" token create --data "$1" --scope "$2" --name "$3" 2>/dev/null
}

# test_ca DIR: a test CA, DIR/ca.pem and DIR/ca.key (P-256, valid for 2 days), for HTTPS tests.
test_ca() {
  local dir=$1
  command -v openssl >/dev/null || fail "openssl is needed and is not installed (scripts/deps.sh test)"
  mkdir -p "$dir"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=ingot test CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null ||
    fail "openssl: the test CA in $dir"
}

# test_cert DIR NAME CN: DIR/NAME.key and DIR/NAME.pem, a certificate for 127.0.0.1 and
# localhost with that CN, signed by the test CA in DIR (test_ca).
test_cert() {
  local dir=$1 name=$2 cn=$3
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null || fail "openssl req $name"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null ||
    fail "openssl x509 $name"
}

# metric NAME_WITH_LABELS: the value of one sample in the last /metrics body, 0 when absent.
metric() {
  awk -v key="$1" 'index($0, key " ") == 1 { print $2; found = 1; exit } END { if (!found) print 0 }' \
    "$BODY"
}
