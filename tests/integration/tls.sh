#!/usr/bin/env bash
# HTTPS as a client sees it: --tls-cert/--tls-key make --listen serve TLS 1.2+ (curl with the
# test CA trusts it; without the CA, and plain HTTP to that port, fail without harming the
# server), blobs in and out over TLS (large ones too, which cannot go by sendfile), a plain
# --http-listen beside it, a certificate renewed on SIGHUP, a broken renewal that keeps the old
# one, and start-up errors that name the fix.
source "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || skip "openssl is not installed"

DATA="$TMP/data"
PKI="$TMP/pki"
mkdir -p "$PKI"

step "a test CA and two server certificates"
test_ca "$PKI"
test_cert "$PKI" one ingot-test-one
test_cert "$PKI" two ingot-test-two
ok "CA, ingot-test-one, ingot-test-two"

# subject_cn: the CN of the certificate the server presents now.
subject_cn() {
  openssl s_client -connect "127.0.0.1:$PORT" -servername localhost </dev/null 2>/dev/null |
    openssl x509 -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p'
}

# wait_reload_failures N: waits until the server has logged N failed reloads.
wait_reload_failures() {
  local deadline=$((SECONDS + 20))
  until [[ $(grep -c "TLS reload failed" "$SERVER_LOG") -ge $1 ]]; do
    [[ $SECONDS -lt $deadline ]] || fail "the server did not log reload failure $1 within 20 s"
    sleep 0.05
  done
}

# wait_log TEXT SECONDS: waits until the server's log holds TEXT (it writes it once the event
# happened), at most SECONDS.
wait_log() {
  local text=$1 limit=$2 deadline=$((SECONDS + $2))
  until grep -qF "$text" "$SERVER_LOG" 2>/dev/null; do
    [[ $SECONDS -lt $deadline ]] || fail "the server did not log '$text' within $limit s"
    sleep 0.05
  done
}

step "start-up errors name the fix"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/rsa.key" 2>/dev/null ||
  fail "openssl: an RSA key"
refused only_cert "--tls-cert and --tls-key go together" --tls-cert "$PKI/one.pem"
refused swapped "does not match the certificate" --tls-cert "$PKI/one.pem" --tls-key "$PKI/two.key"
refused other_type "does not match the certificate" --tls-cert "$PKI/one.pem" \
  --tls-key "$PKI/rsa.key"
refused keycert "holds no PEM certificate" --tls-cert "$PKI/one.key" --tls-key "$PKI/one.key"
refused missing "nope.pem: no such file" --tls-cert "$PKI/nope.pem" --tls-key "$PKI/one.key"
refused plain_only "--http-listen .* needs --tls-cert and --tls-key" --http-listen 127.0.0.1:0
ok "no key, a key of another certificate (same type, other type), a key as the certificate, a missing file, --http-listen alone"

step "HTTPS on --listen, plain HTTP on --http-listen"
cp "$PKI/one.pem" "$PKI/server.pem"
cp "$PKI/one.key" "$PKI/server.key"
start_server "$DATA" --anonymous write --tls-cert "$PKI/server.pem" --tls-key "$PKI/server.key" \
  --http-listen 127.0.0.1:0
[[ $URL == https://127.0.0.1:* && -n $HTTP_PORT ]] ||
  fail "first line: $(head -1 "$SERVER_LOG")"
TLS=(--cacert "$PKI/ca.pem")
expect 200 GET /healthz "${TLS[@]}"
[[ $(subject_cn) == ingot-test-one ]] || fail "the server presents '$(subject_cn)'"
ok "$URL presents ingot-test-one; plain HTTP on port $HTTP_PORT"

step "a client without the CA, and plain HTTP to the HTTPS port, are refused; the server goes on"
rc=0
curl -sS --max-time 20 -o /dev/null "$URL/healthz" 2>"$TMP/untrusted.err" || rc=$?
[[ $rc -eq 60 ]] || fail "curl without the CA exited $rc, expected 60: $(cat "$TMP/untrusted.err")"
rc=0
curl -sS --max-time 20 -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>"$TMP/plain.err" || rc=$?
[[ $rc -ne 0 ]] || fail "plain HTTP to the HTTPS port was answered"
# The server counts a failure when it reads the client's alert, which may come after curl
# has exited: poll, with a deadline.
deadline=$((SECONDS + 20))
until expect 200 GET /metrics "${TLS[@]}" >/dev/null &&
  awk '$1 == "ingot_tls_handshake_failures_total" && $2 >= 2 { found = 1 } END { exit !found }' "$BODY"; do
  [[ $SECONDS -lt $deadline ]] || fail "handshake failures not counted: $(grep tls_handshake "$BODY")"
  sleep 0.1
done
ok "curl exit 60 without the CA, $rc for plain HTTP; both counted in /metrics"

step "blobs in and out over TLS: small, large (no sendfile), a range; the same over plain HTTP"
printf 'small over tls\n' >"$TMP/small"
head -c $((5 * 1024 * 1024 + 17)) /dev/urandom >"$TMP/large"
for f in small large; do
  hex=$(sha256 "$TMP/$f")
  expect 200 PUT "/cas/$hex" "${TLS[@]}" --data-binary @"$TMP/$f"
  expect 200 GET "/cas/$hex" "${TLS[@]}"
  cmp -s "$BODY" "$TMP/$f" || fail "$f came back different over TLS"
  out=$(curl -sS --max-time 60 "http://127.0.0.1:$HTTP_PORT/cas/$hex" | sha256sum)
  [[ ${out%% *} == "$hex" ]] || fail "$f came back different over plain HTTP"
done
expect 206 GET "/cas/$hex" "${TLS[@]}" -H 'Range: bytes=1048576-1048591'
cmp -s "$BODY" <(tail -c +1048577 "$TMP/large" | head -c 16) || fail "the range differs"
ok "15 B and 5 MiB round trips, a 16-byte range"

step "the ingot client over https://: trusts the CA SSL_CERT_FILE names, and says so when it is missing"
printf 'pushed by the ingot client over tls\n' >"$TMP/client-blob"
SSL_CERT_FILE="$PKI/ca.pem" cli client_put put --server "https://127.0.0.1:$PORT" "$TMP/client-blob"
expect_rc 0 client_put
digest=$(awk '{print $1}' "$TMP/client_put.out")
[[ $digest == "$(sha256 "$TMP/client-blob")" ]] || fail "put printed '$(cat "$TMP/client_put.out")'"
SSL_CERT_FILE="$PKI/ca.pem" cli client_get get --server "https://127.0.0.1:$PORT" "$digest" -o "$TMP/client-back"
expect_rc 0 client_get
cmp -s "$TMP/client-blob" "$TMP/client-back" || fail "the blob came back different over https://"
SSL_CERT_FILE="$PKI/ca.pem" cli client_large get --server "https://localhost:$PORT" \
  "$(sha256 "$TMP/large")/$(stat -c %s "$TMP/large")" -o "$TMP/client-large"
expect_rc 0 client_large
cmp -s "$TMP/large" "$TMP/client-large" || fail "5 MiB came back different over https://localhost"
SSL_CERT_FILE="$PKI/one.pem" cli client_untrusted get --server "https://127.0.0.1:$PORT" "$digest" -o "$TMP/nothing"
[[ $RC -eq 1 ]] || fail "a client that does not trust the CA exited $RC, expected 1"
grep -q "gave up after" "$TMP/client_untrusted.err" && fail "an untrusted certificate was tried again"
grep -q "certificate verify failed.*SSL_CERT_FILE" "$TMP/client_untrusted.err" ||
  fail "the untrusted client says: $(cat "$TMP/client_untrusted.err")"
ok "put and get by IP and by name; without the CA: $(head -c 160 "$TMP/client_untrusted.err")"

step "the page at / gives HTTPS addresses to a reader who came over HTTPS"
expect 200 GET / "${TLS[@]}"
grep -qF "https://127.0.0.1:$PORT" "$BODY" || fail "the page over HTTPS names no https:// URL"
curl -sS --max-time 20 "http://127.0.0.1:$HTTP_PORT/" -o "$TMP/plain-page.html" || fail "GET / over plain HTTP"
grep -qF "http://127.0.0.1:$HTTP_PORT" "$TMP/plain-page.html" || fail "the page over HTTP names no http:// URL"
ok "https:// over HTTPS, http:// over the plain listener"

step "SIGHUP reloads the certificate; open connections and the plain listener go on"
cp "$PKI/two.pem" "$PKI/server.pem"
cp "$PKI/two.key" "$PKI/server.key"
kill -HUP "$SERVER_PID"
wait_log "TLS certificate reloaded" 20
[[ $(subject_cn) == ingot-test-two ]] || fail "after SIGHUP the server presents '$(subject_cn)'"
expect 200 GET /healthz "${TLS[@]}"
ok "ingot-test-two after SIGHUP"

step "a broken renewal keeps the certificate that works"
cp "$PKI/rsa.key" "$PKI/server.key" # a key of another type: OpenSSL alone would take it
kill -HUP "$SERVER_PID"
wait_log "TLS reload failed, the previous certificate still serves" 20
[[ $(subject_cn) == ingot-test-two ]] || fail "after a mismatched reload: '$(subject_cn)'"
expect 200 GET /healthz "${TLS[@]}"
printf 'not a certificate\n' >"$PKI/server.pem"
kill -HUP "$SERVER_PID"
wait_reload_failures 2
[[ $(subject_cn) == ingot-test-two ]] || fail "after a failed reload: '$(subject_cn)'"
expect 200 GET /healthz "${TLS[@]}"
stop_server
ok "still ingot-test-two, still serving; stopped cleanly"

step "plain HTTP on a non-loopback address warns that tokens travel in clear"
SERVER_LOG="$TMP/wide.log"
"$INGOT" serve --data "$DATA" --listen 0.0.0.0:0 2>"$SERVER_LOG" &
SERVER_PID=$!
_PIDS+=("$SERVER_PID")
wait_log "warning: plain HTTP on 0.0.0.0: tokens and data cross the network in clear" 30
ok "warned"

step "without TLS, SIGHUP keeps its default: a server whose terminal closed ends"
kill -HUP "$SERVER_PID"
wait_exit "$SERVER_PID" 20
[[ $EXIT_STATUS -eq 129 ]] || fail "after SIGHUP the plain server exited $EXIT_STATUS, not 129"
ok "ended by SIGHUP"
