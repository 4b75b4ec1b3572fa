#!/usr/bin/env bash
# `ingot serve --grpc-listen` as an admin meets it: the address it prints (grpc://, or grpcs://
# with --grpc-tls-cert and --grpc-tls-key), start-up errors that name the fix (half a TLS pair,
# a client CA without TLS, a missing file, a port in use, a bad scope list), and the settings
# in --dump-config. What the services answer is tested in tests/grpc/ with a real gRPC client,
# and with Bazel in bazel.sh.
source "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || skip "openssl is not installed"

DATA="$TMP/data"
PKI="$TMP/pki"
test_ca "$PKI"
test_cert "$PKI" server 127.0.0.1

step "start-up errors name the fix"
refused half "--grpc-tls-cert and --grpc-tls-key go together" --grpc-listen 127.0.0.1:0 \
  --grpc-tls-cert "$PKI/server.pem"
refused ca_alone "--grpc-client-ca .* needs --grpc-tls-cert" --grpc-listen 127.0.0.1:0 \
  --grpc-client-ca "$PKI/ca.pem"
refused missing "--grpc-tls-key: .*nope.key: no such file; pass a PEM file" \
  --grpc-listen 127.0.0.1:0 --grpc-tls-cert "$PKI/server.pem" --grpc-tls-key "$PKI/nope.key"
refused not_pem "--grpc-tls-cert: .* is not PEM" --grpc-listen 127.0.0.1:0 \
  --grpc-tls-cert "$PKI/server.ext" --grpc-tls-key "$PKI/server.key"
refused scopes "--grpc-client-cert-scopes: " --grpc-listen 127.0.0.1:0 \
  --grpc-client-cert-scopes read,fly
refused address "--grpc-listen" --grpc-listen nowhere
ok "half a TLS pair, a CA without TLS, a missing file, a file that is not PEM, a bad scope, a bad address"

step "plain gRPC: the address is printed; a second server cannot take the same port"
start_server "$DATA" --grpc-listen 127.0.0.1:0
grpc_port
first_pid=$SERVER_PID
grep -q "on grpc://127.0.0.1:$GRPC_PORT$" "$SERVER_LOG" || fail "serve printed: $(cat "$SERVER_LOG")"
cli in_use serve --data "$TMP/other" --listen 127.0.0.1:0 --grpc-listen "127.0.0.1:$GRPC_PORT"
[[ $RC -ne 0 ]] || fail "a second server took gRPC port $GRPC_PORT"
grep -q "cannot listen on 127.0.0.1:$GRPC_PORT (--grpc-listen)" "$TMP/in_use.err" ||
  fail "a port in use: $(cat "$TMP/in_use.err")"
stop_server "$first_pid"
ok "grpc://127.0.0.1:$GRPC_PORT; a port in use: $(head -c 120 "$TMP/in_use.err")"

step "gRPC over TLS verifying client certificates: grpcs://, and --dump-config shows it"
start_server "$DATA" --grpc-listen 127.0.0.1:0 --grpc-tls-cert "$PKI/server.pem" \
  --grpc-tls-key "$PKI/server.key" --grpc-client-ca "$PKI/ca.pem" --grpc-client-cert-scopes read
grpc_port
grep -q "on grpcs://127.0.0.1:$GRPC_PORT, verifying client certificates$" "$SERVER_LOG" ||
  fail "serve printed: $(cat "$SERVER_LOG")"
# The port speaks TLS with the server's certificate.
subject=$(openssl s_client -connect "127.0.0.1:$GRPC_PORT" -alpn h2 </dev/null 2>/dev/null |
  openssl x509 -noout -subject 2>/dev/null) || true
[[ $subject == *127.0.0.1* ]] || fail "the gRPC port presents '$subject'"
# `systemctl reload` sends SIGHUP: with gRPC over TLS (and no HTTPS) it must not end the server;
# the files are re-read every 30 s by gRPC itself, which the server says.
kill -HUP "$SERVER_PID"
grep -m1 -q "SIGHUP: gRPC re-reads .*server.pem" < <(timeout 20 tail -n +1 -f "$SERVER_LOG") ||
  fail "no SIGHUP line: $(cat "$SERVER_LOG")"
kill -0 "$SERVER_PID" 2>/dev/null || fail "SIGHUP ended a server with gRPC over TLS"
subject=$(openssl s_client -connect "127.0.0.1:$GRPC_PORT" -alpn h2 </dev/null 2>/dev/null |
  openssl x509 -noout -subject 2>/dev/null) || true
[[ $subject == *127.0.0.1* ]] || fail "after SIGHUP, the gRPC port presents '$subject'"
stop_server
cli dump serve --data "$DATA" --grpc-listen 127.0.0.1:0 --grpc-client-cert-scopes read --dump-config
expect_rc 0 dump
grep -qE '^grpc-listen *= *"127.0.0.1:0"' "$TMP/dump.out" || fail "--dump-config: $(cat "$TMP/dump.out")"
grep -qE '^grpc-client-cert-scopes *= *"read"' "$TMP/dump.out" || fail "--dump-config: $(cat "$TMP/dump.out")"
ok "grpcs:// with the server's certificate, still after SIGHUP; --dump-config lists the gRPC settings"
