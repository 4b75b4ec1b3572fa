#!/usr/bin/env bash
# Every route and status code of the HTTP API, seen from curl: bytes in and out, Range,
# zstd both ways, chunked and 100-continue uploads, digest checks, limits, auth statuses,
# one-line error bodies, Content-Length everywhere, and an access log line per request.
source "$(dirname "$0")/lib.sh"

command -v zstd >/dev/null || fail "the zstd CLI is needed and is not installed"

DATA="$TMP/data"
start_server "$DATA" --anonymous write
ADMIN=$(token_create "$DATA" admin admin)
WRITER=$(token_create "$DATA" read,write writer)
READER=$(token_create "$DATA" read reader)
[[ -n $ADMIN && -n $WRITER && -n $READER ]] || fail "ingot token create printed no token"

step "healthz"
expect 200 GET /healthz
expect_body $'ok\n'
expect 200 HEAD /healthz

step "cas: PUT, GET, HEAD of a small blob"
printf 'hello, ingot\n' >"$TMP/small"
SMALL=$(sha256 "$TMP/small")
expect 200 PUT "/cas/$SMALL" --data-binary @"$TMP/small"
expect 200 GET "/cas/$SMALL"
expect_body_file "$TMP/small"
expect_header ETag "\"$SMALL\""
expect 200 HEAD "/cas/$SMALL"
expect_header Content-Length '^13$'
# Storing the same content again is fine.
expect 200 PUT "/cas/$SMALL" --data-binary @"$TMP/small"

step "cas: miss"
MISSING=$(printf 'never stored' | sha256sum | cut -d' ' -f1)
expect 404 GET "/cas/$MISSING"
expect 404 HEAD "/cas/$MISSING"

step "cas: a 2 MiB blob with Expect: 100-continue"
random_file "$TMP/big" $((2 * 1024 * 1024))
BIG=$(sha256 "$TMP/big")
expect 200 PUT "/cas/$BIG" -H 'Expect: 100-continue' --data-binary @"$TMP/big"
grep -q '^HTTP/1.1 100' "$TMP/headers.raw" || fail "no 100 Continue before the final response"
ok "100 Continue was sent"
expect 200 GET "/cas/$BIG"
expect_body_file "$TMP/big"
expect 200 HEAD "/cas/$BIG"
expect_header Content-Length "^$((2 * 1024 * 1024))\$"

step "cas: chunked request body"
random_file "$TMP/chunked" 700000
CHUNKED=$(sha256 "$TMP/chunked")
expect 200 PUT "/cas/$CHUNKED" -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/chunked"
grep -qi '^transfer-encoding: chunked' "$TMP/headers.raw" &&
  fail "the response is chunked; every response must carry Content-Length"
expect 200 GET "/cas/$CHUNKED"
expect_body_file "$TMP/chunked"

step "cas: digest mismatch is 400 and stores nothing"
printf 'the wrong content' >"$TMP/wrong"
WRONG_OWN=$(sha256 "$TMP/wrong")
expect 400 PUT "/cas/$MISSING" --data-binary @"$TMP/wrong"
expect 404 GET "/cas/$MISSING"
expect 404 GET "/cas/$WRONG_OWN"
expect 400 PUT "/cas/$MISSING" -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/big"
expect 404 GET "/cas/$MISSING"
expect 400 PUT "/cas/$MISSING" -H 'Expect: 100-continue' --data-binary @"$TMP/big"
expect 404 GET "/cas/$MISSING"

step "cas: Range"
SIZE=$(stat -c %s "$TMP/small")
expect 206 GET "/cas/$SMALL" -H 'Range: bytes=1-4'
expect_body "ello"
expect_header Content-Range "^bytes 1-4/$SIZE\$"
expect 206 GET "/cas/$SMALL" -H 'Range: bytes=7-'
expect_body $'ingot\n'
expect_header Content-Range "^bytes 7-12/$SIZE\$"
expect 206 GET "/cas/$SMALL" -H 'Range: bytes=-3'
expect_body $'ot\n'
expect_header Content-Range "^bytes 10-12/$SIZE\$"
expect 206 GET "/cas/$SMALL" -H 'Range: bytes=0-999'
expect_body_file "$TMP/small"
expect 416 GET "/cas/$SMALL" -H "Range: bytes=$SIZE-"
expect_header Content-Range "^bytes \*/$SIZE\$"
expect 416 GET "/cas/$SMALL" -H 'Range: bytes=100-200'
expect 200 GET "/cas/$SMALL" -H 'Range: bytes=0-1,3-4'
expect_body_file "$TMP/small"
ok "several ranges: the whole blob"
expect 206 GET "/cas/$BIG" -H 'Range: bytes=1000000-1065535'
slice "$TMP/big" 1000000 65536 >"$TMP/big.slice"
expect_body_file "$TMP/big.slice"
expect 206 GET "/cas/$BIG" -H 'Range: bytes=-300000'
tail -c 300000 "$TMP/big" >"$TMP/big.tail"
expect_body_file "$TMP/big.tail"

step "cas: zstd both ways"
text_file "$TMP/text" 20000
TEXT=$(sha256 "$TMP/text")
zstd -q -c "$TMP/text" >"$TMP/text.zst"
expect 200 PUT "/cas/$TEXT" -H 'Content-Encoding: zstd' --data-binary @"$TMP/text.zst"
expect 200 GET "/cas/$TEXT"
expect_body_file "$TMP/text"
[[ -z $(header Content-Encoding) ]] || fail "Content-Encoding $(header Content-Encoding) without Accept-Encoding"
expect 200 GET "/cas/$TEXT" -H 'Accept-Encoding: zstd'
expect_header Content-Encoding '^zstd$'
[[ $(stat -c %s "$BODY") -lt $(stat -c %s "$TMP/text") ]] || fail "zstd response is not smaller"
zstd -q -d -c "$BODY" >"$TMP/text.back" || fail "the zstd response does not decode"
cmp -s "$TMP/text.back" "$TMP/text" || fail "the zstd response decodes to other bytes"
ok "Accept-Encoding: zstd returns a zstd frame of the blob"
expect 200 GET "/cas/$TEXT" -H 'Accept-Encoding: gzip, zstd;q=0'
expect_body_file "$TMP/text"
[[ -z $(header Content-Encoding) ]] || fail "zstd;q=0 still got Content-Encoding $(header Content-Encoding)"
expect 206 GET "/cas/$TEXT" -H 'Accept-Encoding: zstd' -H 'Range: bytes=10-29'
slice "$TMP/text" 10 20 >"$TMP/text.slice"
expect_body_file "$TMP/text.slice"
ok "a Range is served from the decoded bytes"
# A compressible blob sent plainly is compressed by the store and can come back as zstd too.
text_file "$TMP/text2" 30000
TEXT2=$(sha256 "$TMP/text2")
expect 200 PUT "/cas/$TEXT2" --data-binary @"$TMP/text2"
expect 200 GET "/cas/$TEXT2" -H 'Accept-Encoding: zstd'
if [[ $(header Content-Encoding) == zstd ]]; then
  zstd -q -d -c "$BODY" | cmp -s - "$TMP/text2" || fail "zstd response of a plain PUT differs"
else
  expect_body_file "$TMP/text2"
fi
# zstd bodies are verified after decoding.
printf 'something else entirely\n' | zstd -q -c >"$TMP/other.zst"
expect 400 PUT "/cas/$MISSING" -H 'Content-Encoding: zstd' --data-binary @"$TMP/other.zst"
expect 404 GET "/cas/$MISSING"
expect 400 PUT "/cas/$MISSING" -H 'Content-Encoding: zstd' --data-binary @"$TMP/wrong"
expect 404 GET "/cas/$MISSING"

step "ac"
AC_KEY=$(printf 'an action' | sha256sum | cut -d' ' -f1)
printf 'an action result' >"$TMP/acvalue"
expect 404 GET "/ac/$AC_KEY"
expect 200 PUT "/ac/$AC_KEY" --data-binary @"$TMP/acvalue"
expect 200 GET "/ac/$AC_KEY"
expect_body_file "$TMP/acvalue"
expect 200 HEAD "/ac/$AC_KEY"
expect_header Content-Length "^$(stat -c %s "$TMP/acvalue")\$"
expect 400 GET "/ac/$(tr a-f A-F <<<"$AC_KEY")"
expect 400 GET "/ac/not-a-key"

step "kv: keys of any depth"
printf 'value one' >"$TMP/v1"
printf 'value two, longer' >"$TMP/v2"
expect 404 GET /kv/ccache/ab/cdef0123
expect 200 PUT /kv/ccache/ab/cdef0123 --data-binary @"$TMP/v1"
expect 200 GET /kv/ccache/ab/cdef0123
expect_body_file "$TMP/v1"
expect 200 PUT /kv/ccache/ab/cdef0123 --data-binary @"$TMP/v2"
expect 200 GET /kv/ccache/ab/cdef0123
expect_body_file "$TMP/v2"
ok "last writer wins"
expect 200 PUT /kv/flatkey --data-binary @"$TMP/v1"
expect 200 GET /kv/flatkey
expect_body_file "$TMP/v1"
expect 200 PUT /kv/a/b/c/d/e/f/g/h --data-binary @"$TMP/v1"
expect 200 GET /kv/a/b/c/d/e/f/g/h
expect 404 GET /kv/a/b/c
expect 200 HEAD /kv/a/b/c/d/e/f/g/h
expect_header Content-Length '^9$'
expect 206 GET /kv/ccache/ab/cdef0123 -H 'Range: bytes=6-8'
expect_body "two"

step "kv: WebDAV"
expect 207 PROPFIND /kv/ccache/ab/cdef0123 -H 'Depth: 0'
grep -q '<D:getcontentlength>17</D:getcontentlength>' "$BODY" || fail "PROPFIND: $(cat "$BODY")"
expect_header Content-Type 'xml'
expect 404 PROPFIND /kv/ccache/zz/nothing -H 'Depth: 0'
expect 201 MKCOL /kv/ccache/newdir

step "malformed paths are 400, and no path reaches the filesystem"
expect 400 GET /kv/a/../b --path-as-is
expect 400 PUT /kv/a/../escaped --path-as-is --data-binary @"$TMP/v1"
expect 400 PUT /kv/../../escaped --path-as-is --data-binary @"$TMP/v1"
expect 400 PUT /kv/a/%2e%2e/%2e%2e/escaped --data-binary @"$TMP/v1"
expect 400 PUT /kv/..%2f..%2fescaped --data-binary @"$TMP/v1"
expect 400 GET /kv/a//b --path-as-is
expect 400 GET /kv/./a --path-as-is
expect 400 GET /kv/a%00b
expect 400 GET /kv/a%zz
expect 400 GET "/cas/$(tr a-f A-F <<<"$SMALL")"
expect 400 GET /cas/1234
expect 400 GET "/cas/$SMALL/x"
expect 400 GET "/kv/$(head -c 1100 /dev/zero | tr '\0' k)"
[[ -z $(find "$TMP" -name escaped) ]] || fail "a file named 'escaped' appeared: $(find "$TMP" -name escaped)"
ok "nothing named 'escaped' was created"

step "unknown routes and methods"
expect 404 GET /nothing
expect 404 GET /index.html # / is the status page (status_page.sh)
expect 405 POST "/cas/$SMALL"
expect_header Allow 'GET'
expect 405 PATCH /kv/ccache/ab/cdef0123
expect_header Allow 'PUT'
expect 405 GET /v1/blobs:findMissing
expect_header Allow '^POST$'
expect 405 PUT /metrics --data-binary @"$TMP/v1"
expect 405 DELETE /healthz

step "auth statuses: 401 with WWW-Authenticate, 403, DELETE needs admin"
expect 401 DELETE "/cas/$SMALL"
[[ -n $(header WWW-Authenticate) ]] || fail "401 without WWW-Authenticate"
expect_header WWW-Authenticate 'Bearer|Basic'
expect 401 GET "/cas/$SMALL" -H 'Authorization: Bearer ingot_not_a_token'
[[ -n $(header WWW-Authenticate) ]] || fail "401 without WWW-Authenticate"
expect 403 PUT "/cas/$SMALL" -H "Authorization: Bearer $READER" --data-binary @"$TMP/small"
expect 403 DELETE "/cas/$SMALL" -H "Authorization: Bearer $WRITER"
expect 403 DELETE /kv/flatkey -u "user:$WRITER"
expect 200 GET "/cas/$SMALL"
expect 200 DELETE "/cas/$SMALL" -H "Authorization: Bearer $ADMIN"
expect 404 GET "/cas/$SMALL"
expect 200 DELETE /kv/flatkey -u "user:$ADMIN"
expect 404 GET /kv/flatkey
expect 200 DELETE "/ac/$AC_KEY" -H "Authorization: Bearer $ADMIN"
expect 404 GET "/ac/$AC_KEY"

step "JSON blob endpoints"
MISSING_LEN=$(printf 'never stored' | wc -c)
printf '{"digests":[{"hash":"%s","size":%d},{"hash":"%s","size":%d}]}' \
  "$BIG" $((2 * 1024 * 1024)) "$MISSING" "$MISSING_LEN" >"$TMP/find.json"
expect 200 POST /v1/blobs:findMissing -H 'Content-Type: application/json' --data-binary @"$TMP/find.json"
expect_header Content-Type 'application/json'
grep -q "\"missing\":\[{\"hash\":\"$MISSING\",\"size\":$MISSING_LEN}\]" "$BODY" ||
  fail "findMissing: $(cat "$BODY")"
B64=$(printf 'batch blob' | base64)
BATCH=$(printf 'batch blob' | sha256sum | cut -d' ' -f1)
printf '{"requests":[{"hash":"%s","size":10,"data":"%s"},{"hash":"%s","size":10,"data":"%s"}]}' \
  "$BATCH" "$B64" "$MISSING" "$B64" >"$TMP/update.json"
expect 200 POST /v1/blobs:batchUpdate --data-binary @"$TMP/update.json"
grep -q "\"hash\":\"$BATCH\",\"size\":10,\"status\":200" "$BODY" || fail "batchUpdate: $(cat "$BODY")"
grep -Eq "\"hash\":\"$MISSING\"[^}]*\"status\":400" "$BODY" || fail "batchUpdate: $(cat "$BODY")"
expect 200 GET "/cas/$BATCH"
expect_body "batch blob"
expect 404 GET "/cas/$MISSING"
printf '{"digests":[{"hash":"%s","size":10}]}' "$BATCH" >"$TMP/read.json"
expect 200 POST /v1/blobs:batchRead --data-binary @"$TMP/read.json"
grep -q "\"data\":\"$B64\"" "$BODY" || fail "batchRead: $(cat "$BODY")"
expect 400 POST /v1/blobs:findMissing --data-binary 'not json'
expect 400 POST /v1/blobs:batchUpdate --data-binary '{"requests": 5}'
expect 400 POST /v1/blobs:batchRead --data-binary '{"digests":[{"hash":"abc","size":1}]}'
expect 403 POST /v1/blobs:batchUpdate -H "Authorization: Bearer $READER" --data-binary @"$TMP/update.json"

step "keep-alive: several requests on one connection"
curl -sS --max-time 30 -o /dev/null -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
  "$URL/healthz" "$URL/cas/$BIG" "$URL/kv/ccache/ab/cdef0123" >"$TMP/keepalive" ||
  fail "curl with three URLs failed"
[[ $(cat "$TMP/keepalive") == $'200 1\n200 0\n200 0' ]] ||
  fail "expected three 200s over one connection, got: $(tr '\n' ' ' <"$TMP/keepalive")"
ok "three requests, one connection"

step "an access log line per request on stderr"
grep -Eq " PUT /cas/$MISSING 400 " "$SERVER_LOG" || fail "no access log line for the refused PUT"
grep -Eq " GET /healthz 200 " "$SERVER_LOG" || fail "no access log line for GET /healthz"
grep -Eq " DELETE /cas/$SMALL 200 .* admin$" "$SERVER_LOG" ||
  fail "no access log line naming the token for the DELETE"
LOGGED=$(grep -c " /kv/ccache/ab/cdef0123 " "$SERVER_LOG" || true)
[[ $LOGGED -ge 7 ]] || fail "expected at least 7 access log lines for /kv/ccache/ab/cdef0123, got $LOGGED"
grep -q "$ADMIN" "$SERVER_LOG" && fail "a token secret appears in the server's log"
ok "access log lines are there, without secrets"

# Checks that found server bugs (see /tmp/ingot-bugs-server.md) run last and all of them run:
# each is reported, and the script fails at the end if any did.
LATE_FAILURES=()
late() {
  local what=$1
  shift
  step "$what"
  if ! ("$@"); then
    LATE_FAILURES+=("$what")
  fi
}

webdav_trailing_slash() {
  # RFC 4918 5.2: clients SHOULD name collections with a trailing slash.
  expect 201 MKCOL /kv/ccache/newdir2/
  expect 207 PROPFIND /kv/ccache/ab/ -H 'Depth: 0'
}
late "WebDAV collections named with a trailing slash" webdav_trailing_slash

step "413 over --max-blob-size"
stop_server
start_server "$TMP/data-small" --anonymous write --max-blob-size 1KiB
head -c 1024 /dev/urandom >"$TMP/k1"
head -c 4096 /dev/zero >"$TMP/k4"
K4=$(sha256 "$TMP/k4")
expect 200 PUT "/cas/$(sha256 "$TMP/k1")" --data-binary @"$TMP/k1"
expect 413 PUT "/cas/$K4" --data-binary @"$TMP/k4"
expect 404 GET "/cas/$K4"
expect 413 PUT /kv/too/big --data-binary @"$TMP/k4"
expect 404 GET /kv/too/big

chunked_over_limit() {
  expect 413 PUT "/cas/$K4" -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/k4"
  expect 404 GET "/cas/$K4"
}
late "413 for a chunked body over --max-blob-size" chunked_over_limit

zstd_over_limit() {
  head -c 4096 /dev/zero | tr '\0' a >"$TMP/a4"
  zstd -q -c "$TMP/a4" >"$TMP/a4.zst" # 4 KiB decoded from a few bytes on the wire
  local a4
  a4=$(sha256 "$TMP/a4")
  expect 413 PUT "/cas/$a4" -H 'Content-Encoding: zstd' --data-binary @"$TMP/a4.zst"
  expect 404 GET "/cas/$a4"
}
late "413 for a zstd body that decodes to more than --max-blob-size" zstd_over_limit

stop_server

step "--compression off stores new blobs raw; auto stores compressible ones as zstd"
text_file "$TMP/text3" 20000 # ~1 MB of text: a file blob, well over the inline threshold
TEXT3=$(sha256 "$TMP/text3")
for mode in auto off; do
  start_server "$TMP/data-$mode" --anonymous write --compression "$mode"
  expect 200 PUT "/cas/$TEXT3" --data-binary @"$TMP/text3"
  expect 200 GET "/cas/$TEXT3" -H 'Accept-Encoding: zstd'
  if [[ $mode == auto ]]; then
    expect_header Content-Encoding '^zstd$'
    zstd -q -d -c "$BODY" | cmp -s - "$TMP/text3" || fail "the stored zstd frame decodes to other bytes"
  else
    [[ -z $(header Content-Encoding) ]] || fail "--compression off stored the blob as $(header Content-Encoding)"
    expect_body_file "$TMP/text3"
  fi
  stop_server
done
# A data dir written with compression is still read by a server started with it off.
start_server "$TMP/data-auto" --anonymous write --compression off
expect 200 GET "/cas/$TEXT3"
expect_body_file "$TMP/text3"
expect 200 GET "/cas/$TEXT3" -H 'Accept-Encoding: zstd'
expect_header Content-Encoding '^zstd$'
stop_server
ok "--compression auto|off decides how new blobs are stored, not how old ones are read"
"$INGOT" serve --data "$TMP/data-x" --compression fast >/dev/null 2>"$TMP/bad-compression" &&
  fail "--compression fast was accepted"
grep -q -- '--compression' "$TMP/bad-compression" || fail "no error names --compression: $(cat "$TMP/bad-compression")"

if [[ ${#LATE_FAILURES[@]} -gt 0 ]]; then
  SERVER_LOG=
  fail "${#LATE_FAILURES[@]} check(s) failed: $(printf '[%s] ' "${LATE_FAILURES[@]}")"
fi
