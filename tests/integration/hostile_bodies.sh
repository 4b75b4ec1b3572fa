#!/usr/bin/env bash
# Request bodies a client controls, on a server with one I/O thread (so a stuck decoder would
# stall every other request): zstd streams of several frames decode in full (RFC 8878: a
# stream is a sequence of frames), and a truncated frame, bytes after the last frame, an empty
# body or bytes that are not zstd at all get a 400 naming the problem, and never replace or
# remove the value a key had before.
source "$(dirname "$0")/lib.sh"

command -v zstd >/dev/null || fail "the zstd CLI is needed and is not installed"

DATA="$TMP/data"
start_server "$DATA" --anonymous write --threads 1

# still_serving: the server answers a second connection, within curl's own limit.
still_serving() {
  expect 200 GET /healthz --max-time 20
}

seq -f 'first part, line %g' 1 20000 >"$TMP/a"
seq -f 'second part, line %g' 1 20000 >"$TMP/b"
zstd -q -c "$TMP/a" >"$TMP/a.zst"
zstd -q -c "$TMP/b" >"$TMP/b.zst"
cat "$TMP/a" "$TMP/b" >"$TMP/ab"
cat "$TMP/a.zst" "$TMP/b.zst" >"$TMP/ab.zst"
printf 'the previous value\n' >"$TMP/previous"

step "a body of two zstd frames decodes to both"
expect 200 PUT /kv/x -H 'Content-Encoding: zstd' --data-binary @"$TMP/ab.zst"
still_serving
expect 200 GET /kv/x
expect_body_file "$TMP/ab"
# The same as a chunked upload, with the frame boundary wherever the chunks fall.
expect 200 PUT /kv/x-chunked -H 'Content-Encoding: zstd' -H 'Transfer-Encoding: chunked' \
  --data-binary @"$TMP/ab.zst"
expect 200 GET /kv/x-chunked
expect_body_file "$TMP/ab"
AB=$(sha256 "$TMP/ab")
expect 200 PUT "/cas/$AB" -H 'Content-Encoding: zstd' --data-binary @"$TMP/ab.zst"
expect 200 GET "/cas/$AB"
expect_body_file "$TMP/ab"

# refused_keeps_value WHAT FILE: a PUT of FILE to a key holding a value is a 400 whose message
# names WHAT, the server still answers, and the key still holds its value.
refused_keeps_value() {
  local what=$1 file=$2
  expect 200 PUT /kv/y --data-binary @"$TMP/previous"
  expect 400 PUT /kv/y -H 'Content-Encoding: zstd' --data-binary @"$file"
  grep -q "$what" "$BODY" || fail "the 400 does not say '$what': $(cat "$BODY")"
  still_serving
  expect 200 GET /kv/y
  expect_body_file "$TMP/previous"
  ok "refused ($(cat "$BODY")), and /kv/y kept its value"
}

step "bytes after the last frame: 400, the previous value stays"
cat "$TMP/a.zst" >"$TMP/junk.zst"
printf 'trailing junk' >>"$TMP/junk.zst"
refused_keeps_value "does not decode" "$TMP/junk.zst"

step "a truncated frame (the first 1,000 bytes): 400, the previous value stays"
head -c 1000 "$TMP/a.zst" >"$TMP/cut.zst"
refused_keeps_value "truncated" "$TMP/cut.zst"

step "a frame cut after the first of two frames' bytes: 400"
head -c $(($(stat -c %s "$TMP/ab.zst") - 5)) "$TMP/ab.zst" >"$TMP/cut2.zst"
refused_keeps_value "truncated" "$TMP/cut2.zst"

step "a body that is not zstd at all: 400"
refused_keeps_value "does not decode" "$TMP/a"

step "an empty body declared as zstd: 400"
: >"$TMP/empty"
refused_keeps_value "does not decode" "$TMP/empty"

step "/cas/ refuses the same bodies, and stores nothing"
A=$(sha256 "$TMP/a")
expect 400 PUT "/cas/$A" -H 'Content-Encoding: zstd' --data-binary @"$TMP/cut.zst"
expect 404 GET "/cas/$A"
expect 400 PUT "/cas/$A" -H 'Content-Encoding: zstd' --data-binary @"$TMP/junk.zst"
expect 404 GET "/cas/$A"

step "the server still drains on SIGTERM"
stop_server
