#!/usr/bin/env bash
# ccache 4.x against `ingot serve` as its remote storage, in each HTTP layout ccache has:
# subdirs (the default) and flat under /kv/, and bazel under /ac/ (ccache appends
# "/ac/<64 hex>" to the URL itself, so its URL is the server's root). A first build from an
# empty local cache fills the server; a second build, again from an empty local cache, must be
# served entirely from it (100% remote hits) and produce the same objects. Then the same with a
# token in the URL against --anonymous none, and with a wrong token (no hits, build still OK).
if ! command -v ccache >/dev/null; then
  echo "SKIP [ccache]: ccache is not installed"
  exit 77
fi
source "$(dirname "$0")/lib.sh"

CC=${CC:-gcc}
command -v "$CC" >/dev/null || fail "ccache is installed but the compiler '$CC' is not"
echo "using $(ccache --version | head -n 1), $("$CC" --version | head -n 1)"

# --- a small C project: 10 translation units sharing a header ------------------------------
SRC="$TMP/src"
NFILES=10
mkdir -p "$SRC"
cat >"$SRC/common.h" <<'EOF'
#ifndef COMMON_H
#define COMMON_H
struct point { int x, y; };
int area(struct point a, struct point b);
#endif
EOF
for i in $(seq 1 $NFILES); do
  cat >"$SRC/unit$i.c" <<EOF
#include "common.h"
#include <string.h>
static const char k_name[] = "unit $i";
int unit${i}_value(int n) {
  struct point a = {n, $i}, b = {n * $i, n + $i};
  int sum = (int)strlen(k_name);
  for (int k = 0; k < n; ++k) sum += area(a, b) % ($i + 7);
  return sum;
}
EOF
done

# build NAME REMOTE_STORAGE: compiles every unit with an empty local cache (a fresh CCACHE_DIR)
# into $TMP/NAME/obj; leaves its stats in $TMP/NAME/stats.
build() {
  local name=$1 remote=$2
  local dir="$TMP/$name"
  mkdir -p "$dir/ccache" "$dir/obj"
  : >"$dir/ccache.conf"
  local i
  for i in $(seq 1 $NFILES); do
    (
      cd "$SRC"
      CCACHE_CONFIGPATH="$dir/ccache.conf" CCACHE_DIR="$dir/ccache" CCACHE_REMOTE_STORAGE="$remote" \
        CCACHE_LOGFILE="$dir/ccache.log" ccache "$CC" -O1 -c "unit$i.c" -o "$dir/obj/unit$i.o"
    ) || fail "ccache $CC -c unit$i.c failed in build $name (log: $(tail -n 5 "$dir/ccache.log"))"
  done
  CCACHE_CONFIGPATH="$dir/ccache.conf" CCACHE_DIR="$dir/ccache" ccache --print-stats >"$dir/stats"
}

# stat NAME FIELD: one counter of a build's `ccache --print-stats`.
stat_of() {
  local value
  value=$(awk -v f="$2" '$1 == f { print $2 }' "$TMP/$1/stats")
  [[ -n $value ]] || fail "no field $2 in ccache --print-stats: $(cat "$TMP/$1/stats")"
  echo "$value"
}

# expect_stat NAME FIELD VALUE
expect_stat() {
  local got
  got=$(stat_of "$1" "$2")
  [[ $got == "$3" ]] ||
    fail "build $1: $2 is $got, expected $3 ($(grep -E '^(remote|local|direct|preprocessed|cache)_' "$TMP/$1/stats" | tr '\t\n' '= '))"
}

# same_objects A B: both builds produced identical object files.
same_objects() {
  local i
  for i in $(seq 1 $NFILES); do
    cmp -s "$TMP/$1/obj/unit$i.o" "$TMP/$2/obj/unit$i.o" ||
      fail "unit$i.o differs between builds $1 and $2"
  done
}

# round_trip LABEL REMOTE_STORAGE: a cold build that fills the server, then a build from an
# empty local cache served entirely by it.
round_trip() {
  local label=$1 remote=$2
  step "$label: first build fills the server ($remote)"
  build "$label-1" "$remote"
  expect_stat "$label-1" remote_storage_hit 0
  expect_stat "$label-1" remote_storage_miss $NFILES
  expect_stat "$label-1" remote_storage_error 0
  [[ $(stat_of "$label-1" remote_storage_write) -ge $NFILES ]] ||
    fail "build $label-1 wrote $(stat_of "$label-1" remote_storage_write) entries to the server"
  ok "$NFILES misses, $(stat_of "$label-1" remote_storage_write) remote writes"

  step "$label: second build, empty local cache, all from the server"
  build "$label-2" "$remote"
  expect_stat "$label-2" remote_storage_hit $NFILES
  expect_stat "$label-2" remote_storage_miss 0
  expect_stat "$label-2" remote_storage_error 0
  expect_stat "$label-2" cache_miss 0
  same_objects "$label-1" "$label-2"
  ok "$NFILES of $NFILES remote hits, identical objects"
}

DATA="$TMP/data"
start_server "$DATA" --anonymous write

round_trip subdirs "$URL/kv/ccache"
grep -Eq " PUT /kv/ccache/[0-9a-z]{2}/[0-9a-z]{20,} 200 " "$SERVER_LOG" ||
  fail "no PUT /kv/ccache/XX/KEY (subdirs layout) in the access log"
ok "keys are stored as /kv/ccache/XX/REST"

round_trip flat "$URL/kv/ccache-flat|layout=flat"
grep -Eq " PUT /kv/ccache-flat/[0-9a-z]{20,} 200 " "$SERVER_LOG" ||
  fail "no PUT /kv/ccache-flat/KEY (flat layout) in the access log"
ok "keys are stored as /kv/ccache-flat/KEY"

round_trip bazel "$URL|layout=bazel"
grep -Eq " PUT /ac/[0-9a-f]{64} 200 " "$SERVER_LOG" ||
  fail "no PUT /ac/<64 hex> (bazel layout) in the access log"
ok "keys are stored as /ac/<64 hex>"

step "what the server holds"
req GET /v1/stats
[[ $STATUS == 200 ]] || fail "/v1/stats: $STATUS"
KV=$(grep -o '"kv": *[0-9]*' "$BODY" | grep -o '[0-9]*$')
AC=$(grep -o '"ac": *[0-9]*' "$BODY" | head -n 1 | grep -o '[0-9]*$')
[[ $KV -ge $((2 * NFILES)) ]] || fail "expected at least $((2 * NFILES)) kv entries, the stats say $KV"
[[ $AC -ge $NFILES ]] || fail "expected at least $NFILES ac entries, the stats say $AC"
ok "$KV kv entries, $AC ac entries"
stop_server

step "credentials in the URL against --anonymous none"
DATA2="$TMP/data-auth"
start_server "$DATA2" --anonymous none
TOKEN=$(token_create "$DATA2" read,write ccache)
[[ -n $TOKEN ]] || fail "token create printed no token"
round_trip basic "http://ccache:$TOKEN@127.0.0.1:$PORT/kv/ccache"
grep -Eq " GET /kv/ccache/[0-9a-z]{2}/[0-9a-z]{20,} 200 .* ccache\$" "$SERVER_LOG" ||
  fail "the hits were not made with the token"
grep -qF "$TOKEN" "$SERVER_LOG" && fail "the token appears in the server's log"

step "bearer-token attribute against --anonymous none"
round_trip bearer "http://127.0.0.1:$PORT/kv/ccache-bearer|bearer-token=$TOKEN"

step "a wrong token: no hits, no writes, and the build still succeeds"
build wrong-1 "http://ccache:ingot_wrong@127.0.0.1:$PORT/kv/ccache"
expect_stat wrong-1 remote_storage_hit 0
expect_stat wrong-1 remote_storage_write 0
same_objects basic-1 wrong-1
grep -Eq " GET /kv/ccache/[0-9a-z]{2}/[0-9a-z]{20,} 401 " "$SERVER_LOG" ||
  fail "the server did not answer 401 to the wrong token"
ok "refused with 401, build unaffected"

step "no credentials at all"
build anonymous-1 "http://127.0.0.1:$PORT/kv/ccache"
expect_stat anonymous-1 remote_storage_hit 0
expect_stat anonymous-1 remote_storage_write 0
ok "no hits, no writes"
stop_server
