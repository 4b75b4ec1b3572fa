#!/usr/bin/env bash
# `ingot serve --mirror NAME=URL` (issue 21) as apt meets it. The upstream is a flat apt
# repository of two tiny packages served by nginx on a free loopback port; apt-get runs with
# its own config, sources, state and cache in the temp dir (the machine's apt is never read or
# touched). Checks, in order: apt-get update and a --download-only install through the mirror
# (the .deb a miss, then hits); the same with nginx stopped (stale Release and Packages, the
# stored .deb; a path never fetched is a 502 naming the upstream; one failed attempt marks the
# mirror down, and then nothing asks the upstream until its back-off ends); after a restart a
# mutable path is revalidated by a conditional GET; --mirror-mutable's own patterns; redirects
# (a chain, a relative one, revalidation through one, a loop, ftp://, https -> http refused,
# with nginx also on HTTPS with a certificate of a test CA); checked downloads (?sha256=, X-Checksum-Sha256):
# a wrong digest is a 502 naming both digests and records nothing; 20 concurrent misses of one
# path make one upstream request; an unknown mirror and bad paths. Then snapshots: `ingot
# mirror snapshot deb good --pin` freezes what the mirror has fetched; the upstream publishes a
# broken 2.0 that apt gets through /mirror/deb; apt through /mirror/deb@good gets 1.0 again
# without a request to the upstream; `ingot pull-tree --ref mirror/deb/good` has the files;
# refs under mirror/ are not writable with PUT. The nginx access log is the witness for what
# reached the upstream.
source "$(dirname "$0")/lib.sh"

for tool in nginx apt-get apt-ftparchive; do
  command -v "$tool" >/dev/null ||
    skip "$tool is not installed (scripts/deps.sh test installs nginx and apt-utils)"
done
for tool in dpkg-deb gzip ss; do
  command -v "$tool" >/dev/null || fail "$tool is needed and is not installed (scripts/deps.sh test)"
done

DATA="$TMP/data"
UP="$TMP/upstream" # nginx's root: the apt repository and a few plain files
NGX="$TMP/nginx"   # nginx's prefix: config, logs, temp dirs
APT="$TMP/apt"     # apt's whole world
NGINX_PID=
NGINX_PORT=
NGINX_TLS_PORT= # the same files over HTTPS, with a certificate of the test CA in $TMP/tls

# --- nginx ------------------------------------------------------------------------------------

# nginx_conf PORT TLS_PORT: nginx.conf for the upstream on 127.0.0.1:PORT (and HTTPS on TLS_PORT). One process (master_process
# off): the exit trap's SIGKILL then leaves no orphaned worker behind, and the access log is
# written in the order requests end (upstream_gets relies on it). The log has the normalised
# path ($uri) beside the request line: apt asks a flat repository for /./Release. Every path nginx would write
# to is under $NGX: Debian's build defaults to /var/lib/nginx and /var/log/nginx.
nginx_conf() {
  cat >"$NGX/nginx.conf" <<EOF
daemon off;
master_process off;
pid $NGX/nginx.pid;
error_log $NGX/error.log info;
events {
  worker_connections 256;
}
http {
  types { }
  default_type application/octet-stream;
  log_format requests '\$status \$request_method \$uri "\$request"';
  access_log $NGX/access.log requests;
  client_body_temp_path $NGX/body;
  proxy_temp_path $NGX/proxy;
  fastcgi_temp_path $NGX/fastcgi;
  uwsgi_temp_path $NGX/uwsgi;
  scgi_temp_path $NGX/scgi;
  server {
    listen 127.0.0.1:$1;
    listen 127.0.0.1:$2 ssl;
    ssl_certificate $TMP/tls/nginx.pem;
    ssl_certificate_key $TMP/tls/nginx.key;
    root $UP;
    autoindex off;
    # Redirects as upstreams send them (GitHub's assets, CDNs), each Location as written here.
    absolute_redirect off;
    location = /redir/hop1 { return 302 /redir/hop2; }
    location = /redir/hop2 { return 301 http://127.0.0.1:$1/extra/redirected.bin; }
    location = /redir/deep/rel.bin { return 307 ../../extra/redirected.bin; }
    location = /redir/index.json { return 302 /extra/redirected-index.json; }
    location = /redir/loop { return 302 /redir/loop; }
    location = /redir/ftp { return 302 ftp://127.0.0.1/extra/redirected.bin; }
    location = /redir/to-http { return 302 http://127.0.0.1:$1/extra/redirected.bin; }
  }
}
EOF
}

# nginx_try PORT TLS_PORT: starts nginx on PORT and TLS_PORT and waits (at most 20 s) until it
# answers on PORT; returns 1 when it exits first (a port was taken). Sets NGINX_PID.
nginx_try() {
  local port=$1 deadline=$((SECONDS + 20))
  nginx_conf "$port" "$2"
  nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" 2>>"$NGX/stderr.log" &
  NGINX_PID=$!
  _PIDS+=("$NGINX_PID")
  until curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$port/Release"; do
    if ! kill -0 "$NGINX_PID" 2>/dev/null; then
      wait "$NGINX_PID" 2>/dev/null || true
      return 1
    fi
    [[ $SECONDS -lt $deadline ]] ||
      fail "nginx (pid $NGINX_PID) did not answer on port $port within 20 s: $(tail -n 5 "$NGX/error.log")"
    sleep 0.05
  done
}

# start_nginx: nginx on a free loopback port, chosen as bench/lib.sh does (a random port that
# ss shows unused; another one if nginx still cannot bind it). Sets NGINX_PID and NGINX_PORT.
start_nginx() {
  local port tls_port
  mkdir -p "$NGX"
  for _ in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 30000))
    tls_port=$((20000 + RANDOM % 30000))
    [[ $port != "$tls_port" && -z $(ss -Htln "sport = :$port" 2>/dev/null) &&
      -z $(ss -Htln "sport = :$tls_port" 2>/dev/null) ]] || continue
    if nginx_try "$port" "$tls_port"; then
      NGINX_PORT=$port
      NGINX_TLS_PORT=$tls_port
      return 0
    fi
  done
  fail "nginx did not start on any of 8 free ports: $(tail -n 5 "$NGX/error.log" "$NGX/stderr.log")"
}

# stop_nginx: SIGTERM, waits for it to exit, and checks that its port now refuses connections.
stop_nginx() {
  kill -TERM "$NGINX_PID" || fail "nginx (pid $NGINX_PID) is not running"
  wait_exit "$NGINX_PID" 20
  local rc=0
  curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$NGINX_PORT/Release" || rc=$?
  [[ $rc -eq 7 ]] || fail "after nginx exited, port $NGINX_PORT still answers (curl exit $rc, expected 7)"
}

# upstream_gets PATH: how many GETs of PATH the upstream has logged. A request to nginx of its
# own comes first, and its line is waited for: with one nginx process, every request that ended
# before it is then in the log. (Called in $(...): the mark is unique without a counter.)
upstream_gets() {
  local mark deadline=$((SECONDS + 20))
  mark="/mark-$(date +%s%N)"
  curl -s -o /dev/null --max-time 10 "http://127.0.0.1:$NGINX_PORT$mark" ||
    fail "nginx does not answer on port $NGINX_PORT"
  until grep -qF " GET $mark \"" "$NGX/access.log"; do
    [[ $SECONDS -lt $deadline ]] || fail "nginx did not log GET $mark within 20 s"
    sleep 0.05
  done
  grep -cF " GET $1 \"" "$NGX/access.log" || true
}

# upstream_requests: how many requests the upstream has logged, upstream_gets's marks aside
# (upstream_gets first, for its barrier).
upstream_requests() {
  upstream_gets /mark >/dev/null
  grep -cvF ' GET /mark-' "$NGX/access.log" || true
}

# upstream_since COUNT: the upstream's log lines after the first COUNT, marks aside.
upstream_since() {
  grep -vF ' GET /mark-' "$NGX/access.log" | tail -n +$(($1 + 1)) | head -n 10
}

# server_log_barrier: waits (at most 20 s) for the access line of a request made now: every line
# the server wrote before is then in $SERVER_LOG (drained by a background cat).
server_log_barrier() {
  local mark deadline=$((SECONDS + 20))
  mark="/kv/log-mark-$(date +%s%N)"
  curl -s -o /dev/null --max-time 10 "$URL$mark" || fail "the server does not answer on $URL"
  until grep -qF " GET $mark " "$SERVER_LOG"; do
    [[ $SECONDS -lt $deadline ]] || fail "the server did not log GET $mark within 20 s"
    sleep 0.05
  done
}

# --- apt --------------------------------------------------------------------------------------

# apt's config comes from APT_CONFIG alone: Dir::Etc::Parts and Dir::Etc::Main are set there,
# before apt would read /etc/apt/apt.conf.d (whose hooks, docker-clean's for one, must not run).
# No retries: a failed fetch must show at once, not after apt's back-off.
mkdir -p "$APT/etc/apt.conf.d" "$APT/etc/sources.list.d" "$APT/etc/preferences.d" \
  "$APT/etc/trusted.gpg.d" "$APT/state" "$APT/cache" "$APT/log"
: >"$APT/status"
cat >"$APT/apt.conf" <<EOF
Dir::Etc::Main "/dev/null";
Dir::Etc::Parts "$APT/etc/apt.conf.d";
Dir::Etc::SourceList "$APT/etc/sources.list";
Dir::Etc::SourceParts "$APT/etc/sources.list.d";
Dir::Etc::Preferences "$APT/etc/preferences";
Dir::Etc::PreferencesParts "$APT/etc/preferences.d";
Dir::Etc::Trusted "$APT/etc/trusted.gpg";
Dir::Etc::TrustedParts "$APT/etc/trusted.gpg.d";
Dir::State "$APT/state";
Dir::State::status "$APT/status";
Dir::Cache "$APT/cache";
Dir::Log "$APT/log";
Debug::NoLocking "true";
APT::Sandbox::User "root";
Acquire::Retries "0";
Acquire::Languages "none";
Acquire::http::Proxy::127.0.0.1 "DIRECT";
EOF
export APT_CONFIG="$APT/apt.conf"

# apt_clean: no lists, no downloaded packages: the next update and install fetch everything.
apt_clean() {
  rm -rf "$APT/state/lists" "$APT/cache"
  mkdir -p "$APT/state/lists/partial" "$APT/cache/archives/partial"
}

# apt_get NAME BASE_URL ARGS...: apt-get ARGS with the repository at BASE_URL as the only
# source; its output in $TMP/NAME.log. Fails unless it exits 0 with no error or warning.
apt_get() {
  local name=$1 base=$2
  shift 2
  printf 'deb [trusted=yes] %s ./\n' "$base" >"$APT/etc/sources.list"
  local rc=0
  timeout 120 apt-get -q "$@" >"$TMP/$name.log" 2>&1 || rc=$?
  [[ $rc -eq 0 ]] || fail "apt-get $* ($base) exited $rc, expected 0: $(tail -n 8 "$TMP/$name.log")"
  if grep -qE '^(E|W|Err):' "$TMP/$name.log"; then
    fail "apt-get $* ($base) reported: $(grep -E '^(E|W|Err):' "$TMP/$name.log" | head -n 5)"
  fi
}

# apt_fetch NAME BASE_URL [VERSION]: from clean lists and cache, apt-get update, then a
# --download-only install of ingot-mirror-demo-a; checks that it downloaded VERSION's .deb (1.0
# unless given) with the upstream's bytes.
apt_fetch() {
  local name=$1 base=$2 deb=ingot-mirror-demo-a_${3:-1.0}_all.deb
  apt_clean
  apt_get "$name-update" "$base" update
  compgen -G "$APT/state/lists/*Packages" >/dev/null ||
    fail "apt-get update ($base) stored no Packages list: $(ls "$APT/state/lists")"
  apt_get "$name-install" "$base" install --download-only -y ingot-mirror-demo-a
  [[ -f $APT/cache/archives/$deb ]] ||
    fail "apt-get install --download-only ($base) left no $deb: $(ls "$APT/cache/archives")"
  cmp -s "$APT/cache/archives/$deb" "$UP/pool/$deb" ||
    fail "the $deb apt downloaded from $base differs from the upstream's"
}

# --- the mirror -------------------------------------------------------------------------------

# expect_mirror STATUS METHOD PATH STATE [curl options...]: expect, and the answer's
# X-Ingot-Mirror header is STATE.
expect_mirror() {
  local want=$1 method=$2 path=$3 state=$4
  shift 4
  expect "$want" "$method" "$path" "$@"
  [[ $(header X-Ingot-Mirror) == "$state" ]] ||
    fail "$method $path: X-Ingot-Mirror is '$(header X-Ingot-Mirror)', expected '$state'"
  ok "  X-Ingot-Mirror: $state"
}

# wait_mirror_state PATH STATE ALLOWED_REGEX SECONDS: GETs PATH until X-Ingot-Mirror is STATE
# (a TTL must pass first), failing on a state outside ALLOWED_REGEX or after SECONDS.
wait_mirror_state() {
  local path=$1 state=$2 allowed=$3 limit=$4 deadline=$((SECONDS + $4)) got
  while :; do
    req GET "$path"
    got=$(header X-Ingot-Mirror)
    [[ $STATUS == 200 ]] || fail "GET $path: $STATUS, expected 200 ($got): $(head -c 300 "$BODY")"
    [[ $got == "$state" ]] && break
    [[ $got =~ ^($allowed)$ ]] || fail "GET $path: X-Ingot-Mirror '$got', expected $state or $allowed"
    [[ $SECONDS -lt $deadline ]] || fail "GET $path: still '$got' after $limit s, expected $state"
    sleep 0.1
  done
  ok "GET $path -> 200, X-Ingot-Mirror: $state"
}

# =============================================================================================

step "a flat apt repository of two packages, served by nginx"
mkdir -p "$UP/pool" "$UP/extra"
for p in a b; do
  pkg="$TMP/pkg-$p"
  mkdir -p "$pkg/DEBIAN" "$pkg/usr/share/ingot-mirror-demo-$p"
  cat >"$pkg/DEBIAN/control" <<EOF
Package: ingot-mirror-demo-$p
Version: 1.0
Architecture: all
Maintainer: Ingot tests <tests@ingot.invalid>
Description: package $p of Ingot's mirror test
EOF
  printf 'ingot mirror demo %s\n' "$p" >"$pkg/usr/share/ingot-mirror-demo-$p/hello.txt"
  dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$UP/pool/ingot-mirror-demo-${p}_1.0_all.deb" \
    >"$TMP/dpkg-deb-$p.log" 2>&1 || fail "dpkg-deb --build $p: $(cat "$TMP/dpkg-deb-$p.log")"
done
(cd "$UP" && apt-ftparchive packages pool >Packages) 2>"$TMP/ftparchive.err" ||
  fail "apt-ftparchive packages: $(cat "$TMP/ftparchive.err")"
gzip -9nk "$UP/Packages"
# Written beside, then moved in: apt-ftparchive would list a Release being written in the dir.
(cd "$UP" && apt-ftparchive release . >"$TMP/Release") 2>"$TMP/ftparchive.err" ||
  fail "apt-ftparchive release: $(cat "$TMP/ftparchive.err")"
mv "$TMP/Release" "$UP/Release"
[[ $(grep -c '^Package: ingot-mirror-demo-' "$UP/Packages") -eq 2 ]] ||
  fail "Packages does not list both packages: $(cat "$UP/Packages")"
grep -q ' Packages.gz$' "$UP/Release" || fail "Release does not list Packages.gz: $(cat "$UP/Release")"
# Plain files, each fetched through the mirror by one step only.
printf 'never fetched while the upstream is up\n' >"$UP/extra/unfetched.txt"
random_file "$UP/extra/checked.bin" 65536
random_file "$UP/extra/concurrent.bin" $((4 * 1024 * 1024))
test_ca "$TMP/tls"
test_cert "$TMP/tls" nginx 127.0.0.1
start_nginx
NGINX_URL="http://127.0.0.1:$NGINX_PORT"
apt_fetch direct "$NGINX_URL"
ok "nginx (pid $NGINX_PID) on $NGINX_URL; apt-get update and install --download-only straight from it work"

step "ingot serve --mirror deb=$NGINX_URL --mirror custom=$NGINX_URL --mirror-mutable custom=... --mirror-ttl 1"
# The server's client trusts the test CA (OpenSSL's SSL_CERT_FILE) for the mirror over HTTPS.
SSL_CERT_FILE="$TMP/tls/ca.pem" start_server "$DATA" --mirror "deb=$NGINX_URL" \
  --mirror "custom=$NGINX_URL" --mirror-mutable 'custom=*.txt,extra/live/*' \
  --mirror "tls=https://127.0.0.1:$NGINX_TLS_PORT" --mirror-ttl 1
ok "serving on $URL"

DEB_A=pool/ingot-mirror-demo-a_1.0_all.deb
DEB_B=pool/ingot-mirror-demo-b_1.0_all.deb
step "apt-get update and install --download-only through $URL/mirror/deb"
apt_fetch mirror "$URL/mirror/deb"
[[ $(upstream_gets "/$DEB_A") -eq 2 ]] ||
  fail "the upstream logged $(upstream_gets "/$DEB_A") GETs of /$DEB_A, expected 2 (apt direct, the mirror)"
ok "the lists and ingot-mirror-demo-a's .deb came through the mirror, the same bytes"
# apt asks a flat repository ("deb URL ./") for URL/./Release: the "." must name the same file.
req GET /mirror/deb/Release
[[ $STATUS == 200 && $(header X-Ingot-Mirror) =~ ^(hit|revalidated)$ ]] ||
  fail "GET /mirror/deb/Release: $STATUS '$(header X-Ingot-Mirror)', expected 200 and hit or revalidated: apt fetched it as /mirror/deb/./Release"
ok "GET /mirror/deb/Release -> 200 $(header X-Ingot-Mirror): the file apt fetched as /mirror/deb/./Release"
expect_mirror 200 HEAD "/mirror/deb/$DEB_A" hit
expect_mirror 200 HEAD "/mirror/deb/$DEB_B" miss
expect_mirror 200 HEAD "/mirror/deb/$DEB_B" hit
expect_mirror 200 GET "/mirror/deb/$DEB_B" hit
expect_body_file "$UP/$DEB_B"
[[ $(upstream_gets "/$DEB_B") -eq 1 ]] ||
  fail "the upstream logged $(upstream_gets "/$DEB_B") GETs of /$DEB_B, expected 1"
ok "package b: one upstream GET, then served from the store with the upstream's bytes"

step "nginx stopped: apt-get still works through the mirror (stale lists, stored .deb)"
stop_nginx
ok "nginx stopped; port $NGINX_PORT refuses connections"
# Release is mutable and its 1 s TTL passes: first a hit, then stale.
wait_mirror_state /mirror/deb/Release stale hit 20
expect_body_file "$UP/Release"
# That failure marked deb down (10 s, doubling): stale copies at once, and a path never fetched
# a 502 at once, neither asking the upstream again. The server's log is the witness: one line
# per failed attempt. (Were this machine to stall 10 s between these requests, deb would
# rightly be asked again, and the count below be 2.)
for _ in 1 2 3; do
  expect_mirror 200 GET /mirror/deb/Release stale
  expect 502 GET /mirror/deb/extra/unfetched.txt
  { grep -qF "$NGINX_URL" "$BODY" && grep -qF "not asked: mirror deb failed" "$BODY" &&
    grep -qE "asked again in [0-9]+ s" "$BODY"; } ||
    fail "the 502 while deb is down does not say it failed recently and when it is asked again: $(cat "$BODY")"
done
ok "a path never fetched: $(cat "$BODY")"
server_log_barrier
downs=$(grep -c "ingot: mirror: deb is down" "$SERVER_LOG" || true)
[[ $downs -eq 1 ]] ||
  fail "the server logged $downs failed attempts to reach deb's upstream, expected 1 (then it is not asked for 10 s): $(grep -F "mirror: deb" "$SERVER_LOG" | tail -n 5)"
ok "one attempt to reach the upstream, logged: $(grep -F "ingot: mirror: deb is down" "$SERVER_LOG")"
# The upstream has no InRelease (nor Release.gpg): apt asked, and the mirror passed on its 404.
# apt stops an update at a 5xx for InRelease, so with the upstream down that 404 must stand.
for f in InRelease Release.gpg; do
  req GET "/mirror/deb/$f"
  [[ $STATUS == 404 ]] ||
    fail "GET /mirror/deb/$f: $STATUS, expected 404 (the upstream's answer before it went down): $(head -c 300 "$BODY")"
  ok "GET /mirror/deb/$f -> 404: $(cat "$BODY")"
done
apt_fetch stale "$URL/mirror/deb"
ok "apt-get update and install --download-only from clean lists and cache"
expect_mirror 200 GET "/mirror/deb/$DEB_A" hit
expect 502 GET /mirror/deb/extra/unfetched.txt
grep -qF "$NGINX_URL" "$BODY" || fail "the 502 does not name the upstream $NGINX_URL: $(cat "$BODY")"
ok "a path never fetched: $(cat "$BODY")"

step "nginx restarted on port $NGINX_PORT: a mutable path is revalidated"
nginx_try "$NGINX_PORT" "$NGINX_TLS_PORT" || fail "nginx could not listen on ports $NGINX_PORT and $NGINX_TLS_PORT again: $(tail -n 3 "$NGX/error.log")"
ok "nginx (pid $NGINX_PID) back on $NGINX_URL"
# Once deb's back-off ends (10 s after its last failure, at most 60 s), it is asked again.
wait_mirror_state /mirror/deb/Release revalidated 'hit|stale' 90
expect_body_file "$UP/Release"
server_log_barrier
grep -qF "ingot: mirror: deb answers again" "$SERVER_LOG" || fail "the server did not log that deb answers again"
grep -qF '304 GET /Release "' "$NGX/access.log" ||
  fail "the upstream answered no conditional GET of /Release with 304: $(grep -F /Release "$NGX/access.log")"
[[ $(upstream_gets "/$DEB_A") -eq 2 ]] ||
  fail "the upstream logged $(upstream_gets "/$DEB_A") GETs of /$DEB_A, expected 2: immutable paths are never asked again"
ok "Release revalidated with a 304 from the upstream; the .deb was never asked again"

step "checked downloads: ?sha256= and X-Checksum-Sha256"
zeros=0000000000000000000000000000000000000000000000000000000000000000
checked=$(sha256 "$UP/extra/checked.bin")
expect 502 GET "/mirror/deb/extra/checked.bin?sha256=$zeros"
{ grep -qF "$zeros" "$BODY" && grep -qF "$checked" "$BODY"; } ||
  fail "the 502 does not name both the expected ($zeros) and the actual ($checked) digest: $(cat "$BODY")"
ok "a wrong digest: $(cat "$BODY")"
expect 502 GET /mirror/deb/extra/checked.bin -H "X-Checksum-Sha256: $zeros"
grep -qF "$checked" "$BODY" || fail "the 502 does not name the actual digest $checked: $(cat "$BODY")"
expect_mirror 200 GET /mirror/deb/extra/checked.bin miss
expect_body_file "$UP/extra/checked.bin"
[[ $(upstream_gets /extra/checked.bin) -eq 3 ]] ||
  fail "the upstream logged $(upstream_gets /extra/checked.bin) GETs of /extra/checked.bin, expected 3: a wrong file must not be recorded"
ok "nothing recorded under the path by a wrong digest: the next GET fetched anew"
# The right digest, for a path not fetched yet: a miss, then a hit, the upstream's bytes.
random_file "$UP/extra/checked-right.bin" 65536
right=$(sha256 "$UP/extra/checked-right.bin")
expect_mirror 200 GET "/mirror/deb/extra/checked-right.bin?sha256=$right" miss
expect_body_file "$UP/extra/checked-right.bin"
expect_mirror 200 GET /mirror/deb/extra/checked-right.bin hit -H "X-Checksum-Sha256: $right"
expect_body_file "$UP/extra/checked-right.bin"
ok "the right digest: the exact bytes, fetched once"

step "20 concurrent misses of one path: all the same bytes, one upstream request"
pids=()
for i in $(seq 20); do
  curl -sS --max-time 120 -o "$TMP/concurrent-$i.body" -w '%{http_code}' \
    "$URL/mirror/deb/extra/concurrent.bin" >"$TMP/concurrent-$i.code" 2>"$TMP/concurrent-$i.err" &
  pids+=("$!")
done
for i in $(seq 20); do
  wait "${pids[$((i - 1))]}" || fail "concurrent GET $i: curl failed: $(cat "$TMP/concurrent-$i.err")"
  [[ $(cat "$TMP/concurrent-$i.code") == 200 ]] ||
    fail "concurrent GET $i: $(cat "$TMP/concurrent-$i.code"), expected 200: $(head -c 300 "$TMP/concurrent-$i.body")"
  cmp -s "$TMP/concurrent-$i.body" "$UP/extra/concurrent.bin" ||
    fail "concurrent GET $i: $(stat -c %s "$TMP/concurrent-$i.body") bytes that differ from the upstream's 4 MiB"
done
gets=$(upstream_gets /extra/concurrent.bin)
[[ $gets -eq 1 ]] || fail "the upstream logged $gets GETs of /extra/concurrent.bin for 20 concurrent misses, expected 1"
ok "20 x 200 with the upstream's 4 MiB; one upstream GET"

step "--mirror-mutable custom=*.txt,extra/live/*: its own mutable paths, instead of the built-in list"
mkdir -p "$UP/extra/live"
printf 'version 1\n' >"$UP/extra/notes.txt"
printf 'live data\n' >"$UP/extra/live/data.bin"
expect_mirror 200 GET /mirror/custom/Release miss
expect_mirror 200 GET /mirror/custom/extra/notes.txt miss
expect_body_file "$UP/extra/notes.txt"
expect_mirror 200 GET /mirror/custom/extra/live/data.bin miss
# A new size, so that nginx's ETag (mtime and size) changes even within the same second.
printf 'version 2, longer\n' >"$UP/extra/notes.txt"
wait_mirror_state /mirror/custom/extra/notes.txt miss hit 20
expect_body_file "$UP/extra/notes.txt"
wait_mirror_state /mirror/custom/extra/live/data.bin revalidated hit 20
expect_body_file "$UP/extra/live/data.bin"
# Release is in the built-in list but not in custom's: never asked again, though its TTL passed
# long ago (the two files above were fetched after it and revalidated since).
releases=$(upstream_gets /Release)
expect_mirror 200 GET /mirror/custom/Release hit
[[ $(upstream_gets /Release) -eq $releases ]] ||
  fail "GET /mirror/custom/Release asked the upstream: Release is not in custom's --mirror-mutable"
# For deb, without --mirror-mutable, .txt files stay immutable.
expect_mirror 200 GET /mirror/deb/extra/notes.txt miss
printf 'version 3, longer still\n' >"$UP/extra/notes.txt"
wait_mirror_state /mirror/custom/extra/notes.txt miss hit 20
expect_mirror 200 GET /mirror/deb/extra/notes.txt hit
grep -qx 'version 2, longer' "$BODY" || fail "deb's extra/notes.txt changed: $(cat "$BODY")"
ok "custom's *.txt and extra/live/* revalidated after the TTL, its Release never; deb's .txt immutable"

step "redirects from the upstream: followed (5 at most, http(s) only), the record keeps the path's URL"
random_file "$UP/extra/redirected.bin" 20000
printf '{"version": 1}\n' >"$UP/extra/redirected-index.json"
expect_mirror 200 GET /mirror/deb/redir/hop1 miss
expect_body_file "$UP/extra/redirected.bin"
[[ $(upstream_gets /redir/hop1) -eq 1 && $(upstream_gets /redir/hop2) -eq 1 && $(upstream_gets /extra/redirected.bin) -eq 1 ]] ||
  fail "GET /mirror/deb/redir/hop1 did not follow 302 then 301 to /extra/redirected.bin once: $(grep -E ' GET /(redir|extra/redirected)' "$NGX/access.log")"
expect_mirror 200 GET /mirror/deb/redir/hop1 hit
expect_body_file "$UP/extra/redirected.bin"
expect 200 GET /kv/mirror/deb/redir/hop1
expect_json "$BODY" "j['url'] == '$NGINX_URL/redir/hop1'" "the record of redir/hop1"
ok "302 then an absolute 301 followed; the record names $NGINX_URL/redir/hop1; then a hit"
expect_mirror 200 GET /mirror/deb/redir/deep/rel.bin miss
expect_body_file "$UP/extra/redirected.bin"
ok "a relative Location (307 ../../extra/redirected.bin) resolved against the path"
# An index behind a redirect is revalidated through it: the conditional GET reaches the file.
expect_mirror 200 GET /mirror/deb/redir/index.json miss
expect_body_file "$UP/extra/redirected-index.json"
wait_mirror_state /mirror/deb/redir/index.json revalidated hit 20
expect_body_file "$UP/extra/redirected-index.json"
grep -qF '304 GET /extra/redirected-index.json "' "$NGX/access.log" ||
  fail "no conditional GET through the redirect was answered 304: $(grep -F redirected-index "$NGX/access.log")"
ok "redir/index.json revalidated through its 302: the upstream answered the conditional GET 304"
loops=$(upstream_gets /redir/loop)
expect 502 GET /mirror/deb/redir/loop
grep -qF "more than 5 redirects" "$BODY" || fail "the 502 for a redirect loop does not say so: $(cat "$BODY")"
[[ $(upstream_gets /redir/loop) -eq $((loops + 6)) ]] ||
  fail "a redirect loop made $(($(upstream_gets /redir/loop) - loops)) upstream GETs, expected 6 (the first and 5 redirects)"
ok "a loop: 6 GETs, then $(head -c 200 "$BODY")"
expect 502 GET /mirror/deb/redir/ftp
grep -qF "only http:// and https://" "$BODY" || fail "the 502 for a redirect to ftp:// does not say why: $(cat "$BODY")"
ok "a redirect to ftp://: $(cat "$BODY")"
expect_mirror 200 GET /mirror/tls/redir/deep/rel.bin miss
expect_body_file "$UP/extra/redirected.bin"
ok "over HTTPS (the test CA's certificate, verified), redirects to https://127.0.0.1:$NGINX_TLS_PORT followed"
plain=$(upstream_gets /extra/redirected.bin)
expect 502 GET /mirror/tls/redir/to-http
grep -qF "from https to http" "$BODY" || fail "the 502 for an https -> http redirect does not say so: $(cat "$BODY")"
[[ $(upstream_gets /extra/redirected.bin) -eq $plain ]] || fail "the https -> http redirect was followed"
ok "https -> http refused, not followed: $(cat "$BODY")"

step "an unknown mirror and bad paths"
expect 404 GET /mirror/nope/x
grep -qw deb "$BODY" || fail "the 404 for mirror 'nope' does not name the configured mirror 'deb': $(cat "$BODY")"
ok "$(cat "$BODY")"
expect 400 GET /mirror/deb/a/../b --path-as-is
expect 400 GET /mirror/deb/a//b --path-as-is
expect 400 GET /mirror/deb/a%2Fb
expect 400 GET /mirror/deb/a%2fb
upstream_gets /b >/dev/null # a barrier: every request so far is in the log
[[ $(grep -cE ' GET /(a|b)' "$NGX/access.log") -eq 0 ]] ||
  fail "a bad path reached the upstream: $(grep -E ' GET /(a|b)' "$NGX/access.log")"
ok "none of them reached the upstream"

DEB_A2=pool/ingot-mirror-demo-a_2.0_all.deb
step "ingot mirror snapshot deb good --pin: what the mirror has fetched, frozen as a tree"
WRITER=$(token_create "$DATA" read,write mirror-writer) || fail "ingot token create failed"
READER=$(token_create "$DATA" read mirror-reader) || fail "ingot token create failed"
[[ -n $WRITER && -n $READER ]] || fail "ingot token create printed no token"
expect 403 POST /v1/mirror/deb/snapshots/bad -H "Authorization: Bearer $READER" --data ''
ok "  a snapshot needs the write scope: $(cat "$BODY")"
expect 404 GET /v1/refs/mirror/deb/bad
cli snap-good mirror snapshot deb good --pin --server "$URL" --token "$WRITER"
expect_rc 0 "ingot mirror snapshot deb good --pin"
line=$(cat "$TMP/snap-good.out")
[[ $line =~ ^mirror/deb/good:\ ([0-9]+)\ files,\ tree\ ([0-9a-f]{64}/[0-9]+),\ pinned$ ]] ||
  fail "ingot mirror snapshot printed '$line', expected 'mirror/deb/good: N files, tree HEX/SIZE, pinned'"
GOOD_FILES=${BASH_REMATCH[1]}
GOOD_ROOT=${BASH_REMATCH[2]}
cli good-ref ref get --server "$URL" --json mirror/deb/good
expect_rc 0 "ingot ref get --json mirror/deb/good"
expect_json "$TMP/good-ref.out" "j['digest'] == '$GOOD_ROOT' and j['pinned'] is True" \
  "the ref mirror/deb/good"
ok "$line; the ref mirror/deb/good names that tree, pinned"
# What CI pins must never change under its name: a second snapshot of that name is refused.
cli snap-again mirror snapshot deb good --server "$URL" --token "$WRITER"
[[ $RC -ne 0 ]] || fail "a second 'ingot mirror snapshot deb good' replaced the snapshot"
grep -q "exists; snapshots are never replaced" "$TMP/snap-again.err" ||
  fail "a second snapshot of one name: $(cat "$TMP/snap-again.err")"
ok "a second snapshot named good is refused: $(head -c 150 "$TMP/snap-again.err")"
before=$(upstream_requests)
expect_mirror 200 GET "/mirror/deb@good/$DEB_A" snapshot
expect_body_file "$UP/$DEB_A"
expect_mirror 200 GET /mirror/deb@good/Release snapshot
expect_body_file "$UP/Release"
[[ $(upstream_requests) -eq $before ]] ||
  fail "GETs of /mirror/deb@good/ reached the upstream: $(upstream_since "$before")"
ok "/mirror/deb@good/ serves the stored bytes, without a request to the upstream"

step "the upstream breaks: ingot-mirror-demo-a 2.0, and apt gets it through /mirror/deb"
pkg="$TMP/pkg-a2"
mkdir -p "$pkg/DEBIAN" "$pkg/usr/share/ingot-mirror-demo-a"
cat >"$pkg/DEBIAN/control" <<EOF
Package: ingot-mirror-demo-a
Version: 2.0
Architecture: all
Maintainer: Ingot tests <tests@ingot.invalid>
Description: package a of Ingot's mirror test, broken
EOF
printf 'ingot mirror demo a: broken\n' >"$pkg/usr/share/ingot-mirror-demo-a/hello.txt"
dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$UP/$DEB_A2" >"$TMP/dpkg-deb-a2.log" 2>&1 ||
  fail "dpkg-deb --build a 2.0: $(cat "$TMP/dpkg-deb-a2.log")"
# The indexes made as step 1 made them, each written beside and then moved in. The old
# Release is moved out first (and kept): apt-ftparchive release lists a Release in the dir.
(cd "$UP" && apt-ftparchive packages pool >"$TMP/Packages") 2>"$TMP/ftparchive.err" ||
  fail "apt-ftparchive packages: $(cat "$TMP/ftparchive.err")"
gzip -9nc "$TMP/Packages" >"$TMP/Packages.gz"
mv "$TMP/Packages" "$TMP/Packages.gz" "$UP/"
mv "$UP/Release" "$TMP/Release-good"
(cd "$UP" && apt-ftparchive release . >"$TMP/Release") 2>"$TMP/ftparchive.err" ||
  fail "apt-ftparchive release: $(cat "$TMP/ftparchive.err")"
mv "$TMP/Release" "$UP/Release"
{ [[ $(grep -c '^Package: ingot-mirror-demo-a$' "$UP/Packages") -eq 2 ]] && grep -q '^Version: 2\.0$' "$UP/Packages"; } ||
  fail "Packages does not list ingot-mirror-demo-a 1.0 and 2.0: $(cat "$UP/Packages")"
grep -q ' Release$' "$UP/Release" && fail "the new Release lists a Release: $(cat "$UP/Release")"
cmp -s "$UP/Release" "$TMP/Release-good" && fail "the new Release is the same as the old one"
ok "the upstream's Packages lists ingot-mirror-demo-a 1.0 and 2.0 (2.0 broken)"
# Release's 1 s TTL passes: then the mirror fetches the new one (a miss: new bytes).
wait_mirror_state /mirror/deb/Release miss hit 20
expect_body_file "$UP/Release"
apt_fetch broken "$URL/mirror/deb" 2.0
deb2="$APT/cache/archives/${DEB_A2#pool/}"
version=$(dpkg-deb -f "$deb2" Version) || fail "dpkg-deb -f $deb2 Version failed"
[[ $version == 2.0 ]] || fail "the .deb apt downloaded is version '$version', expected 2.0"
payload=$(dpkg-deb --fsys-tarfile "$deb2" | tar -xOf - ./usr/share/ingot-mirror-demo-a/hello.txt) ||
  fail "cannot read hello.txt from $deb2"
[[ $payload == *broken* ]] || fail "the 2.0 .deb's hello.txt is '$payload', expected the broken one"
ok "apt-get through /mirror/deb now downloads ingot-mirror-demo-a 2.0, the broken payload"

step "roll back: apt-get through $URL/mirror/deb@good gets 1.0, the upstream untouched"
before=$(upstream_requests)
apt_fetch rollback "$URL/mirror/deb@good"
[[ ! -e $APT/cache/archives/${DEB_A2#pool/} ]] ||
  fail "apt-get through /mirror/deb@good downloaded the 2.0 .deb: $(ls "$APT/cache/archives")"
expect_mirror 200 GET /mirror/deb@good/Release snapshot
expect_body_file "$TMP/Release-good"
after=$(upstream_requests)
[[ $after -eq $before ]] ||
  fail "the upstream logged $((after - before)) requests while apt ran through /mirror/deb@good, expected none: $(upstream_since "$before")"
ok "apt-get update and install --download-only: 1.0 with the original bytes, no upstream request"

step "ingot pull-tree --ref mirror/deb/good: the snapshot as files"
cli pull-good pull-tree --server "$URL" -q --ref mirror/deb/good "$TMP/pulled-good"
expect_rc 0 "ingot pull-tree --ref mirror/deb/good"
cmp -s "$TMP/pulled-good/$DEB_A" "$UP/$DEB_A" || fail "pull-tree: $DEB_A is missing or differs from the upstream's 1.0"
cmp -s "$TMP/pulled-good/$DEB_B" "$UP/$DEB_B" || fail "pull-tree: $DEB_B is missing or differs from the upstream's"
cmp -s "$TMP/pulled-good/Release" "$TMP/Release-good" || fail "pull-tree: Release is missing or not the snapshot's"
for f in extra/checked.bin extra/checked-right.bin extra/concurrent.bin; do
  cmp -s "$TMP/pulled-good/$f" "$UP/$f" || fail "pull-tree: $f is missing or differs from the upstream's"
done
compgen -G "$TMP/pulled-good/Packages*" >/dev/null || fail "pull-tree: no Packages index: $(ls "$TMP/pulled-good")"
# Remembered 404s, failed fetches and what was fetched after the snapshot are not in it.
for f in InRelease Release.gpg extra/unfetched.txt "$DEB_A2"; do
  [[ ! -e $TMP/pulled-good/$f ]] || fail "pull-tree: the snapshot has $f"
done
files=$(find "$TMP/pulled-good" -type f | wc -l)
[[ $files -eq $GOOD_FILES ]] ||
  fail "pull-tree wrote $files files, the snapshot said $GOOD_FILES: $(cd "$TMP/pulled-good" && find . -type f)"
ok "$files files, the .debs with the original bytes; no remembered 404, nothing fetched since"

step "refs under mirror/ are the snapshots' alone; unknown snapshots and files are 404s"
before=$(upstream_requests)
for ref in evil good; do
  expect 403 PUT "/v1/refs/mirror/deb/$ref" -H "Authorization: Bearer $WRITER" \
    --data "{\"digest\":\"$GOOD_ROOT\",\"pinned\":false}"
  ok "  $(cat "$BODY")"
done
expect 404 GET /v1/refs/mirror/deb/evil
cli good-ref ref get --server "$URL" --json mirror/deb/good
expect_rc 0 "ingot ref get --json mirror/deb/good"
expect_json "$TMP/good-ref.out" "j['digest'] == '$GOOD_ROOT' and j['pinned'] is True" \
  "the ref mirror/deb/good after the refused PUT"
expect 404 GET /mirror/deb@nosuch/Release
grep -qw nosuch "$BODY" || fail "the 404 for snapshot 'nosuch' does not name it: $(cat "$BODY")"
ok "  $(cat "$BODY")"
expect 404 GET /mirror/deb@good/no/such/file
grep -qw good "$BODY" || fail "the 404 for a file not in snapshot 'good' does not name it: $(cat "$BODY")"
ok "  $(cat "$BODY")"
[[ $(upstream_requests) -eq $before ]] || fail "these requests reached the upstream: $(upstream_since "$before")"
ok "none of them reached the upstream"

step "ingot mirror override: the hand-vendored fix for one path, audited, then removed"
ADMIN=$(token_create "$DATA" read,write,admin mirror-admin) || fail "ingot token create failed"
printf 'a fixed build of ingot-mirror-demo-a 2.0\n' >"$TMP/fixed.deb"
cli put-fixed put "$TMP/fixed.deb" --server "$URL" --token "$WRITER"
expect_rc 0 "ingot put fixed.deb"
# ingot put prints "<sha256> <size> <name>"; an override takes "<sha256>/<size>".
read -r fixed_hex fixed_size _ <"$TMP/put-fixed.out" || true
[[ ${fixed_hex:-} =~ ^[0-9a-f]{64}$ && ${fixed_size:-} =~ ^[0-9]+$ ]] ||
  fail "ingot put printed no digest: $(cat "$TMP/put-fixed.out")"
FIXED=$fixed_hex/$fixed_size
cli over-writer mirror override deb "$DEB_A2" --digest "$FIXED" --server "$URL" --token "$WRITER"
[[ $RC -ne 0 ]] || fail "a write token set an override (it needs admin)"
cli over mirror override deb "$DEB_A2" --digest "$FIXED" --server "$URL" --token "$ADMIN"
expect_rc 0 "ingot mirror override deb $DEB_A2"
before=$(upstream_requests)
expect_mirror 200 GET "/mirror/deb/$DEB_A2" override
cmp -s "$BODY" "$TMP/fixed.deb" || fail "the override serves other bytes than the fixed file"
[[ $(upstream_requests) -eq $before ]] || fail "an overridden path reached the upstream: $(upstream_since "$before")"
expect 200 GET /v1/audit -H "Authorization: Bearer $ADMIN"
grep -q '"mirror override"' "$BODY" && grep -q "$DEB_A2" "$BODY" && grep -q mirror-admin "$BODY" ||
  fail "the audit log does not record the override: $(tail -c 400 "$BODY")"
ok "$(cat "$TMP/over.out"); served with no upstream request; in the audit log; a write token is refused"
cli unover mirror override deb "$DEB_A2" --remove --server "$URL" --token "$ADMIN"
expect_rc 0 "ingot mirror override deb $DEB_A2 --remove"
expect 200 GET "/mirror/deb/$DEB_A2"
[[ $(header X-Ingot-Mirror) == miss ]] || fail "after --remove: X-Ingot-Mirror '$(header X-Ingot-Mirror)', expected miss"
cmp -s "$BODY" "$UP/$DEB_A2" || fail "after --remove, the path does not serve the upstream's bytes"
ok "$(cat "$TMP/unover.out"); the upstream's file again"

step "a snapshot is removed by an admin alone"
expect 403 DELETE /v1/refs/mirror/deb/good -H "Authorization: Bearer $WRITER"
expect 200 DELETE /v1/refs/mirror/deb/good -H "Authorization: Bearer $ADMIN"
expect 404 GET /mirror/deb@good/Release
ok "a write token is refused; the admin's DELETE removes it, and /mirror/deb@good/ is gone"

stop_server
ok "the server stopped cleanly"
