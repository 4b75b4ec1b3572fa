#!/usr/bin/env bash
# Bazel (Debian's bazel-bootstrap 4.2.3) with `--remote_cache` pointed at `ingot serve`, as a
# build job uses it: a first build with a write token uploads (the server counts AC and CAS
# writes); after `bazel clean --expunge` the rebuild is a remote cache hit for every action and
# its outputs are the bytes of the first build (the genrules write the time and random bytes,
# so outputs run again would differ); a read-only build without a token hits and uploads
# nothing (its uploads are refused, with a warning, unless --noremote_upload_local_results
# spares them); a wrong token gets the server's 401, which Bazel shows; the same hits over
# HTTPS with the test CA in Bazel's JVM trust store, and without it a refusal that Bazel's
# server log names. Nothing is downloaded (Bazel's output says so when it tries): CI has no
# network beyond Debian's packages, so the workspace holds genrules only (a cc_binary needs
# @rules_cc and @rules_java, which Bazel 4.2.3 downloads). Bazel's output base and its server
# live in $TMP; the server is shut down at the end. Exits 77 (skipped) when bazel or openssl
# is not installed, and only then. Last, Bazel's --experimental_remote_downloader against a
# second server mirroring a local nginx: an http_archive comes through Remote Asset's
# FetchBlob (nginx serves it to ingot once), again with nginx stopped and Bazel's caches wiped,
# and a wrong sha256 is refused naming both digests.
source "$(dirname "$0")/lib.sh"

command -v bazel >/dev/null || skip "bazel is not installed (Debian: bazel-bootstrap; scripts/deps.sh test)"
command -v openssl >/dev/null || skip "openssl is not installed"
# keytool comes with the JDK that bazel-bootstrap depends on (default-jdk-headless).
command -v keytool >/dev/null || fail "keytool is needed (Debian: default-jdk-headless, a dependency of bazel-bootstrap)"

DATA="$TMP/data"
PKI="$TMP/pki"
WS="$TMP/workspace"
BAZEL_ROOT="$TMP/bazel-root"
FIRST="$TMP/first-build"

step "a workspace of three genrules, a test CA, a server over HTTPS with plain HTTP beside it"
mkdir -p "$WS" "$FIRST"
printf 'workspace(name = "ingot_bazel_test")\n' >"$WS/WORKSPACE"
# $(V) (--define=V=…) is part of greeting's and shout's command lines, so changing it makes
# those two actions new to the cache while noise stays the same action.
cat >"$WS/BUILD" <<'EOF'
genrule(
    name = "greeting",
    outs = ["greeting.txt"],
    cmd = "echo 'hello from a genrule, build $(V), made at' $$(date +%s%N) > $@",
)

genrule(
    name = "shout",
    srcs = [":greeting"],
    outs = ["shout.txt"],
    cmd = "tr a-z A-Z < $< > $@",
)

genrule(
    name = "noise",
    outs = ["noise.bin"],
    cmd = "head -c 2097152 /dev/urandom > $@",
)
EOF
OUTPUTS=(greeting.txt shout.txt noise.bin)
test_ca "$PKI"
test_cert "$PKI" server 127.0.0.1
# Bazel 4.2.3's HTTP cache client trusts only its JVM's trust store (--tls_certificate is for
# gRPC): a PKCS12 store holding the test CA, for -Djavax.net.ssl.trustStore.
keytool -importcert -noprompt -alias ingot-test-ca -file "$PKI/ca.pem" -keystore "$PKI/ca.p12" \
  -storetype PKCS12 -storepass ingot-test >"$TMP/keytool.log" 2>&1 ||
  fail "keytool -importcert: $(cat "$TMP/keytool.log")"
TOKEN=$(token_create "$DATA" read,write bazel) || fail "token create failed"
start_server "$DATA" --tls-cert "$PKI/server.pem" --tls-key "$PKI/server.key" --http-listen 127.0.0.1:0 \
  --grpc-listen 127.0.0.1:0
HTTPS_URL=$URL
URL="http://127.0.0.1:$HTTP_PORT" # req and expect (the server's counters) go over plain HTTP
grpc_port
GRPC_URL="grpc://127.0.0.1:$GRPC_PORT"
ok "$HTTPS_URL, $URL and $GRPC_URL"

# Debian's system bazelrc stays (/etc/bazel/bazelrc names the install base, /usr/share/bazel);
# the user's and a workspace's do not. --max_idle_secs: a server left behind by a killed run
# ends by itself.
STARTUP=(--nohome_rc --noworkspace_rc --output_user_root="$BAZEL_ROOT" --max_idle_secs=600)
JVM=() # startup options for the server's JVM; a change restarts Bazel's server
# Debian's bazelrc sets --sandbox_debug, whose chatter would become the actions' cached stderr.
BUILD=(build //:all --color=no --curses=no --nosandbox_debug)

# bz NAME ARGS...: bazel ARGS in the workspace; its output (stdout and stderr) in
# $TMP/NAME.log; sets RC.
bz() {
  local name=$1
  shift
  RC=0
  (cd "$WS" && bazel "${STARTUP[@]}" "${JVM[@]}" "$@") >"$TMP/$name.log" 2>&1 || RC=$?
  if grep -q "Download from" "$TMP/$name.log"; then
    fail "bazel $name tried to download: $(grep -m1 "Download from" "$TMP/$name.log")"
  fi
}
# built NAME: bazel NAME exited 0 and said so.
built() {
  [[ $RC -eq 0 ]] || fail "bazel $1 exited $RC: $(tail -n 20 "$TMP/$1.log")"
  grep -q "^INFO: Build completed successfully" "$TMP/$1.log" || fail "bazel $1: $(tail -n 5 "$TMP/$1.log")"
}
# _bazel_shutdown: at exit, stops a Bazel server this script left running and makes its
# read-only output tree removable.
_bazel_shutdown() {
  [[ -d $BAZEL_ROOT ]] || return 0
  (cd "$WS" && timeout 60 bazel "${STARTUP[@]}" shutdown) >/dev/null 2>&1 || true
  chmod -R u+w "$BAZEL_ROOT" 2>/dev/null || true
}
_CLEANUP_HOOKS+=(_bazel_shutdown)

# expect_hits NAME N: Bazel's summary line ("INFO: 4 processes: 3 remote cache hit, …") for
# bazel NAME counts N remote cache hits, and none when N is 0.
expect_hits() {
  local name=$1 want=$2 summary
  summary=$(grep -E '^INFO: [0-9]+ process(es)?[:.]' "$TMP/$name.log" | tail -n 1)
  [[ -n $summary ]] || fail "bazel $name printed no process summary: $(tail -n 5 "$TMP/$name.log")"
  if [[ $want -eq 0 ]]; then
    [[ $summary != *"remote cache hit"* ]] || fail "bazel $name: '$summary', expected no remote cache hit"
  else
    [[ $summary == *" $want remote cache hit"* ]] ||
      fail "bazel $name: '$summary', expected $want remote cache hit"
  fi
  ok "bazel $name: $summary"
}
# counts: what the server has answered, from /metrics: AC and CAS writes, AC hits.
counts() {
  expect 200 GET /metrics >/dev/null
  AC_PUT=$(metric 'ingot_http_requests_total{route="ac",method="PUT",status="200"}')
  CAS_PUT=$(metric 'ingot_http_requests_total{route="cas",method="PUT",status="200"}')
  AC_HIT=$(metric 'ingot_http_requests_total{route="ac",method="GET",status="200"}')
}
# snapshot, then stored_nothing WHAT: fails if the server stored an AC or CAS entry in between.
snapshot() {
  counts
  before_put=$AC_PUT before_cas=$CAS_PUT
}
stored_nothing() {
  counts
  [[ $AC_PUT -eq $before_put && $CAS_PUT -eq $before_cas ]] ||
    fail "$1 uploaded: AC writes $before_put -> $AC_PUT, CAS writes $before_cas -> $CAS_PUT"
}
# warning_line NAME WHAT N: line N after Bazel's "WARNING: WHAT Remote Cache:" (WHAT is
# "Reading from" or "Writing to") in bazel NAME's output; empty when it did not warn.
warning_line() {
  grep -A"$3" "^WARNING: $2 Remote Cache:" "$TMP/$1.log" | sed -n "$(($3 + 1))p"
}
# bz_ok NAME ARGS...: bz, which must exit 0 (clean, shutdown).
bz_ok() {
  bz "$@"
  [[ $RC -eq 0 ]] || fail "bazel $* exited $RC: $(tail -n 5 "$TMP/$1.log")"
}
# same_outputs WHAT FILES...: these outputs of the last build are the first build's bytes.
same_outputs() {
  local what=$1 f
  shift
  for f in "$@"; do
    cmp -s "$FIRST/$f" "$WS/bazel-bin/$f" || fail "$what: bazel-bin/$f differs from the first build's"
  done
}

step "the first build, with a write token, uploads every action's result"
bz first "${BUILD[@]}" --define=V=1 --remote_cache="$URL" --remote_header="Authorization=Bearer $TOKEN"
built first
expect_hits first 0
counts
[[ $AC_PUT -eq 3 ]] || fail "the server stored $AC_PUT action results, expected 3 (one per genrule)"
[[ $CAS_PUT -ge 3 ]] || fail "the server stored $CAS_PUT CAS blobs, expected at least the 3 outputs"
expect 200 GET /v1/stats
expect_json "$BODY" 'j["entries"]["ac"] == 3' "/v1/stats after the first build"
for f in "${OUTPUTS[@]}"; do
  cp -L "$WS/bazel-bin/$f" "$FIRST/$f" || fail "the first build made no bazel-bin/$f"
done
ok "3 AC entries, $CAS_PUT CAS uploads (2 MiB of noise.bin among them)"

step "bazel clean --expunge, then the same build: a remote cache hit for each action, the same bytes"
bz_ok expunge clean --expunge
[[ ! -e $WS/bazel-bin/noise.bin ]] || fail "bazel clean --expunge left bazel-bin/noise.bin"
snapshot
bz rebuild "${BUILD[@]}" --define=V=1 --remote_cache="$URL" --remote_header="Authorization=Bearer $TOKEN"
built rebuild
expect_hits rebuild 3
same_outputs "after --expunge" "${OUTPUTS[@]}"
stored_nothing "a build of cache hits"
ok "greeting.txt, shout.txt and noise.bin are the first build's bytes; $AC_HIT AC hits served"

step "read-only, without a token (--anonymous read): hits, and uploads nothing"
bz_ok clean clean
snapshot
bz readonly "${BUILD[@]}" --define=V=2 --remote_cache="$URL" --noremote_upload_local_results
built readonly
expect_hits readonly 1 # noise; greeting and shout are new actions with V=2
same_outputs "read-only" noise.bin
grep -q "build 2, made at" "$WS/bazel-bin/greeting.txt" || fail "greeting.txt: $(cat "$WS/bazel-bin/greeting.txt")"
grep -q "Remote Cache" "$TMP/readonly.log" && fail "the read-only build warns: $(grep -A2 "Remote Cache" "$TMP/readonly.log")"
stored_nothing "the read-only build"
ok "noise.bin from the cache, 2 actions run locally, no AC or CAS write"

step "without a token and without --noremote_upload_local_results, the uploads are refused and Bazel warns"
bz anonymous "${BUILD[@]}" --define=V=5 --remote_cache="$URL"
built anonymous
said=$(warning_line anonymous "Writing to" 1)
[[ $said =~ errors?\ during\ bulk\ transfer ]] ||
  fail "bazel without a token does not warn of refused uploads: $(grep -A2 WARNING "$TMP/anonymous.log" | head -c 600)"
stored_nothing "an anonymous build"
ok "Bazel warns: $said; nothing stored"

step "a wrong token: Bazel shows the server's 401 and builds without the cache"
bz wrong "${BUILD[@]}" --define=V=3 --remote_cache="$URL" --remote_header="Authorization=Bearer ingot_not_a_token"
built wrong
expect_hits wrong 0
[[ $(warning_line wrong "Reading from" 1) == "401 Unauthorized" ]] ||
  fail "bazel with a wrong token shows no 401: $(grep -A2 WARNING "$TMP/wrong.log" | head -c 600)"
said=$(warning_line wrong "Reading from" 2)
[[ $said == *token* ]] || fail "after the 401 Bazel shows '$said', not the server's word on the token"
stored_nothing "a build with a wrong token"
ok "Bazel shows: 401 Unauthorized / $said"

step "HTTPS with the test CA in Bazel's trust store: a remote cache hit for each action"
bz_ok clean_tls clean
JVM=(--host_jvm_args=-Djavax.net.ssl.trustStore="$PKI/ca.p12"
  --host_jvm_args=-Djavax.net.ssl.trustStorePassword=ingot-test)
bz https "${BUILD[@]}" --define=V=1 --remote_cache="$HTTPS_URL" --remote_header="Authorization=Bearer $TOKEN"
built https
expect_hits https 3
same_outputs "over HTTPS" "${OUTPUTS[@]}"
ok "$HTTPS_URL: the first build's bytes"

step "HTTPS without the CA in the trust store (--tls_certificate does not reach the HTTP cache): refused"
JVM=()
bz untrusted "${BUILD[@]}" --define=V=4 --remote_cache="$HTTPS_URL" --tls_certificate="$PKI/ca.pem" \
  --remote_header="Authorization=Bearer $TOKEN"
built untrusted
expect_hits untrusted 0
said=$(warning_line untrusted "Reading from" 1)
[[ $said == *SSL* ]] ||
  fail "bazel without the CA shows no TLS failure: $(grep -A2 WARNING "$TMP/untrusted.log" | head -c 600)"
server_logs=("$BAZEL_ROOT"/*/java.log)
[[ -f ${server_logs[0]} ]] || fail "no Bazel server log under $BAZEL_ROOT"
grep -q "PKIX path building failed.*unable to find valid certification path" "${server_logs[0]}" ||
  fail "Bazel's server log does not name the untrusted certificate"
ok "Bazel shows '$said'; its server log: unable to find valid certification path"

# grpc_calls METHOD CODE: how many gRPC calls of METHOD ended with CODE, from /metrics.
grpc_calls() {
  expect 200 GET /metrics >/dev/null
  metric "ingot_grpc_calls_total{method=\"$1\",code=\"$2\"}"
}

step "gRPC (--remote_cache=grpc://): one action cache with HTTP; every action a hit after --expunge"
JVM=()
bz_ok clean_grpc clean --expunge
bz grpc_first "${BUILD[@]}" --define=V=7 --remote_cache="$GRPC_URL" \
  --remote_header="Authorization=Bearer $TOKEN"
built grpc_first
expect_hits grpc_first 1 # noise: the entry the first build wrote over HTTP
updates=$(grpc_calls ActionCache/UpdateActionResult OK)
[[ $updates -eq 2 ]] || fail "gRPC stored $updates action results, expected 2 (greeting and shout with V=7)"
for f in "${OUTPUTS[@]}"; do
  cp -L "$WS/bazel-bin/$f" "$FIRST/grpc-$f" || fail "the gRPC build made no bazel-bin/$f"
done
bz_ok expunge_grpc clean --expunge
snapshot
bz grpc_rebuild "${BUILD[@]}" --define=V=7 --remote_cache="$GRPC_URL" \
  --remote_header="Authorization=Bearer $TOKEN"
built grpc_rebuild
expect_hits grpc_rebuild 3
for f in "${OUTPUTS[@]}"; do
  cmp -s "$FIRST/grpc-$f" "$WS/bazel-bin/$f" || fail "over gRPC: bazel-bin/$f differs from the first gRPC build's"
done
stored_nothing "a gRPC build of cache hits over HTTP's counters"
[[ $(grpc_calls ActionCache/UpdateActionResult OK) -eq 2 ]] || fail "a build of gRPC cache hits stored action results"
ok "noise.bin written over HTTP was a gRPC hit; after --expunge 3 gRPC hits, the same bytes"

step "gRPC read-only without a token: hits with --noremote_upload_local_results; a wrong token is refused"
bz_ok clean_grpc_ro clean
bz grpc_readonly "${BUILD[@]}" --define=V=7 --remote_cache="$GRPC_URL" --noremote_upload_local_results
built grpc_readonly
expect_hits grpc_readonly 3
bz grpc_wrong "${BUILD[@]}" --define=V=8 --remote_cache="$GRPC_URL" \
  --remote_header="Authorization=Bearer ingot_not_a_token"
grep -q "UNAUTHENTICATED" "$TMP/grpc_wrong.log" ||
  fail "bazel with a wrong token over gRPC shows no UNAUTHENTICATED: $(grep -iE 'error|warning' "$TMP/grpc_wrong.log" | head -c 600)"
said=$(grep -m1 "UNAUTHENTICATED" "$TMP/grpc_wrong.log")
[[ $said == *"--remote_header=Authorization=Bearer"* ]] ||
  fail "Bazel shows '$said', which does not say how to send a token"
unauth=$(grpc_calls Capabilities/GetCapabilities UNAUTHENTICATED)
[[ $unauth -ge 1 ]] || fail "the server counted no UNAUTHENTICATED GetCapabilities"
ok "read-only: 3 hits; a wrong token (bazel exit $RC): $said"

step "nothing was downloaded: Bazel's repository cache is empty"
downloaded=$(find "$BAZEL_ROOT/cache/repos" -type f 2>/dev/null | head -n 3)
[[ -z $downloaded ]] || fail "Bazel downloaded into its repository cache: $downloaded"
ok "no file under $BAZEL_ROOT/cache/repos, no \"Download from\" in Bazel's output"

step "bazel shutdown ends Bazel's server; the ingot server stops by its PID"
output_base=$(dirname "${server_logs[0]}")
bazel_pid=$(cat "$output_base/server/server.pid.txt") || fail "no $output_base/server/server.pid.txt"
bz_ok shutdown shutdown
timeout 30 tail --pid="$bazel_pid" -s 0.05 -f /dev/null ||
  fail "Bazel's server (PID $bazel_pid) still runs 30 s after bazel shutdown"
stop_server
ok "Bazel's server (PID $bazel_pid) is gone; ingot serve exited 0"

# --- Bazel's remote downloader through the mirror ---------------------------------------------

step "--experimental_remote_downloader: an http_archive fetched through the mirror of a local nginx"
command -v nginx >/dev/null || fail "nginx is needed (scripts/deps.sh test installs it)"
UP="$TMP/upstream" NGX="$TMP/nginx" DWS="$TMP/downloader-ws"
mkdir -p "$UP/files/tool-1.0" "$NGX" "$DWS"
printf 'a file from an http_archive\n' >"$UP/files/tool-1.0/greeting.txt"
printf 'exports_files(["greeting.txt"])\n' >"$UP/files/tool-1.0/BUILD"
tar -C "$UP/files" -czf "$UP/files/tool-1.0.tar.gz" tool-1.0
TOOL_SHA=$(sha256sum "$UP/files/tool-1.0.tar.gz" | cut -d' ' -f1)
cp "$UP/files/tool-1.0.tar.gz" "$UP/files/tool-2.0.tar.gz"
# start_upstream: one nginx process (master_process off: the exit trap's kill leaves no worker
# behind) serving $UP on NGINX_PORT (a free one is chosen the first time); its access log is
# the witness of who downloaded what. Sets NGINX_PID.
start_upstream() {
  if [[ -z ${NGINX_PORT:-} ]]; then
    for _ in 1 2 3 4 5 6 7 8; do
      NGINX_PORT=$((20000 + RANDOM % 30000))
      [[ -n $(ss -Htln "sport = :$NGINX_PORT" 2>/dev/null) ]] || break
    done
  fi
  cat >"$NGX/nginx.conf" <<CONF
daemon off;
master_process off;
pid $NGX/nginx.pid;
error_log $NGX/error.log info;
events { worker_connections 64; }
http {
  access_log $NGX/access.log;
  client_body_temp_path $NGX/body;
  proxy_temp_path $NGX/proxy;
  fastcgi_temp_path $NGX/fastcgi;
  uwsgi_temp_path $NGX/uwsgi;
  scgi_temp_path $NGX/scgi;
  server { listen 127.0.0.1:$NGINX_PORT; root $UP; }
}
CONF
  nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" 2>>"$NGX/stderr.log" &
  NGINX_PID=$!
  _PIDS+=("$NGINX_PID")
  local deadline=$((SECONDS + 20))
  until curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$NGINX_PORT/"; do
    kill -0 "$NGINX_PID" 2>/dev/null || fail "nginx exited: $(tail -n 5 "$NGX/error.log" "$NGX/stderr.log")"
    [[ $SECONDS -lt $deadline ]] || fail "nginx did not answer on port $NGINX_PORT within 20 s"
    sleep 0.05
  done
}
start_upstream
UPSTREAM="http://127.0.0.1:$NGINX_PORT/files"
start_server "$TMP/data-mirror" --grpc-listen 127.0.0.1:0 --mirror "files=$UPSTREAM"
grpc_port
MIRROR_GRPC="grpc://127.0.0.1:$GRPC_PORT"
# workspace_for FILE SHA256: a workspace whose //:used copies a file of the http_archive FILE.
workspace_for() {
  cat >"$DWS/WORKSPACE" <<CONF
workspace(name = "ingot_downloader_test")
load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")
http_archive(
    name = "tool",
    urls = ["$UPSTREAM/$1"],
    sha256 = "$2",
    strip_prefix = "tool-1.0",
)
CONF
  cat >"$DWS/BUILD" <<'CONF'
genrule(
    name = "used",
    srcs = ["@tool//:greeting.txt"],
    outs = ["used.txt"],
    cmd = "cp $< $@",
)
CONF
}
DOWNLOADER=(build //:used --color=no --curses=no --nosandbox_debug --remote_cache="$MIRROR_GRPC"
  --experimental_remote_downloader="$MIRROR_GRPC" --noremote_upload_local_results)
# bzd NAME ARGS...: bazel ARGS in the downloader's workspace, output in $TMP/NAME.log; sets RC.
bzd() {
  local name=$1
  shift
  RC=0
  (cd "$DWS" && bazel "${STARTUP[@]}" "$@") >"$TMP/$name.log" 2>&1 || RC=$?
}
# upstream_gets FILE: how many times nginx was asked for files/FILE.
upstream_gets() { grep -c "\"GET /files/$1 " "$NGX/access.log" || true; }

workspace_for tool-1.0.tar.gz "$TOOL_SHA"
bzd downloader_first "${DOWNLOADER[@]}"
built downloader_first
cmp -s "$UP/files/tool-1.0/greeting.txt" "$DWS/bazel-bin/used.txt" ||
  fail "bazel-bin/used.txt is not the archive's greeting.txt"
gets=$(upstream_gets tool-1.0.tar.gz)
[[ $gets -eq 1 ]] || fail "nginx was asked for tool-1.0.tar.gz $gets times, expected once (by ingot): $(cat "$NGX/access.log")"
if grep -q "Download from" "$TMP/downloader_first.log"; then
  fail "Bazel downloaded by itself: $(grep -m1 "Download from" "$TMP/downloader_first.log")"
fi
fetched=$(grpc_calls Fetch/FetchBlob OK)
[[ $fetched -eq 1 ]] || fail "ingot answered $fetched FetchBlob calls with OK, expected 1"
expect 200 GET /kv/mirror/files/tool-1.0.tar.gz >/dev/null
ok "the http_archive came through FetchBlob: nginx served ingot once; recorded under the mirror"

step "the upstream stopped, Bazel's caches wiped: the archive still comes from ingot"
kill -TERM "$NGINX_PID"
wait_exit "$NGINX_PID" 20
# Bazel refuses a plain http:// URL without a sha256, so this FetchBlob carries the checksum
# and is answered by content (the blob the mirror stored); mirror.sh checks the mirror's own
# stale answers with the upstream down.
bzd downloader_clean clean --expunge
[[ $RC -eq 0 ]] || fail "bazel clean --expunge exited $RC: $(tail -n 5 "$TMP/downloader_clean.log")"
chmod -R u+w "$BAZEL_ROOT/cache" 2>/dev/null || true
rm -rf "$BAZEL_ROOT/cache/repos"
bzd downloader_offline "${DOWNLOADER[@]}"
built downloader_offline
cmp -s "$UP/files/tool-1.0/greeting.txt" "$DWS/bazel-bin/used.txt" ||
  fail "without the upstream, bazel-bin/used.txt is not the archive's greeting.txt"
fetched=$(grpc_calls Fetch/FetchBlob OK)
[[ $fetched -eq 2 ]] || fail "ingot answered $fetched FetchBlob calls with OK, expected 2"
ok "built with nginx stopped and Bazel's repository cache empty"

step "a wrong sha256 is refused with both digests, and nothing is recorded under its path"
start_upstream
WRONG=$(printf 'not the archive' | sha256sum | cut -d' ' -f1)
workspace_for tool-2.0.tar.gz "$WRONG"
bzd downloader_wrong "${DOWNLOADER[@]}"
[[ $RC -ne 0 ]] || fail "bazel built with a wrong sha256 for tool-2.0.tar.gz"
if ! grep -q "$WRONG" "$TMP/downloader_wrong.log" || ! grep -q "$TOOL_SHA" "$TMP/downloader_wrong.log"; then
  fail "Bazel's output does not name both digests: $(grep -i 'error' "$TMP/downloader_wrong.log" | head -c 800)"
fi
[[ $(upstream_gets tool-2.0.tar.gz) -eq 1 ]] || fail "nginx was not asked for tool-2.0.tar.gz once: $(cat "$NGX/access.log")"
expect 404 GET /kv/mirror/files/tool-2.0.tar.gz >/dev/null
ok "refused (bazel exit $RC), both digests shown; no record for tool-2.0.tar.gz"
bzd downloader_shutdown shutdown
stop_server
