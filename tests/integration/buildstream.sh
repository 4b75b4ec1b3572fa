#!/usr/bin/env bash
# BuildStream 1.6 (Debian's buildstream 1.6.8) with its artifact cache pointed at `ingot serve
# --grpc-listen`, as a BuildStream user configures it: `bst build` of an `import` element (a
# tiny rootfs and data from a `local` source) and a `manual` element built on it in bubblewrap
# pushes both artifacts; with the local cache wiped, `bst pull` brings them all back and `bst
# build` builds nothing; `bst checkout` gives the same files. An artifact bst pushed is an Ingot
# tree: its ref (<project>/<element>/<key>) is listed by `ingot ref list` and `ingot pull-tree
# --ref` yields its files/, logs/ and meta/, the import element's files byte-identical. A
# read-only server (--anonymous read: bst 1.6 sends no token) serves pulls, and bst is told
# it may not push. bst reports a failing remote only as a WARNING and still exits 0, so every
# step is judged by bst's queue lines ("Push Queue: processed 2, skipped 0, failed 0") and its
# "Pulled artifact" lines. Nothing leaves $TMP: XDG_CACHE_HOME, XDG_CONFIG_HOME, XDG_DATA_HOME
# and HOME are in it. Mutual TLS (the one way bst 1.6 can authenticate): bst over https://
# with a client certificate pushes to a server that is read-only without one. Exits 77
# (skipped) when bst or bwrap is not installed, and only then.
source "$(dirname "$0")/lib.sh"

command -v bst >/dev/null || skip "bst is not installed (Debian: buildstream; scripts/deps.sh test)"
command -v bwrap >/dev/null || skip "bwrap is not installed (Debian: bubblewrap; scripts/deps.sh test)"
command -v ldd >/dev/null || fail "ldd is needed to make the sandbox's rootfs (Debian: libc-bin)"

DATA="$TMP/data"
PROJECT="$TMP/project"
CONF="$TMP/bst.conf"
FIRST="$TMP/first-checkout"
export HOME="$TMP/home" XDG_CACHE_HOME="$TMP/xdg/cache" XDG_CONFIG_HOME="$TMP/xdg/config" \
  XDG_DATA_HOME="$TMP/xdg/data"
mkdir -p "$HOME" "$XDG_CACHE_HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$FIRST"

step "a project: base.bst imports a rootfs and data (local source), hello.bst (manual) builds on it"
mkdir -p "$PROJECT/elements" "$PROJECT/files/base/share/base"
cat >"$PROJECT/project.conf" <<'EOF'
name: ingot-bst-test
element-path: elements
# The rootfs has no strip or objcopy: the manual element's strip-commands must run nothing.
variables:
  strip-binaries: ""
EOF
cat >"$PROJECT/elements/base.bst" <<'EOF'
kind: import
sources:
- kind: local
  path: files/base
EOF
cat >"$PROJECT/elements/hello.bst" <<'EOF'
kind: manual
build-depends:
- base.bst
config:
  install-commands:
  - mkdir -p %{install-root}/share/hello
  - |
    printf 'hello.bst read: %s\n' "$(cat /share/base/greeting.txt)" > %{install-root}/share/hello/greeting.txt
EOF
# The sandbox's rootfs: this machine's sh, mkdir and cat with the libraries ldd names (and the
# dynamic loader), at the same paths. Nothing is downloaded.
BASE="$PROJECT/files/base"
for bin in /bin/sh /bin/mkdir /bin/cat; do
  cp --parents -L "$bin" "$BASE/" || fail "cannot copy $bin into the rootfs"
  for lib in $(ldd "$bin" | grep -oE '/[^ ]+'); do
    [[ -e $BASE$lib ]] || cp --parents -L "$lib" "$BASE/" || fail "cannot copy $lib ($bin needs it)"
  done
done
echo "hello from base.bst" >"$BASE/share/base/greeting.txt"
# 2 MiB: over bst's 1 MiB batch limit, so it travels by ByteStream Write and Read.
random_file "$BASE/share/base/noise.bin" 2097152
ln -s greeting.txt "$BASE/share/base/greeting-link"
ok "$(find "$BASE" -type f | wc -l) files in base.bst's source, $(du -sk "$BASE" | cut -f1) KiB"

# bst_conf PUSH: the user configuration, the Ingot server as the artifact cache.
bst_conf() {
  printf 'artifacts:\n  url: http://127.0.0.1:%s\n  push: %s\n' "$GRPC_PORT" "$1" >"$CONF"
}
# bst_run NAME ARGS...: bst ARGS on the project; its output (stdout and stderr) in
# $TMP/NAME.log; sets RC.
bst_run() {
  local name=$1
  shift
  RC=0
  bst --no-interactive --no-colors -c "$CONF" -C "$PROJECT" "$@" >"$TMP/$name.log" 2>&1 || RC=$?
}
# bst_ok NAME ARGS...: bst_run, which must exit 0 and warn of nothing.
bst_ok() {
  bst_run "$@"
  [[ $RC -eq 0 ]] || fail "bst $* exited $RC: $(tail -n 25 "$TMP/$1.log")"
  if grep -q "WARNING" "$TMP/$1.log"; then
    fail "bst $* warned: $(grep -A3 WARNING "$TMP/$1.log" | head -c 800)"
  fi
}
# expect_queue NAME QUEUE COUNTS: bst NAME's pipeline summary has "QUEUE: COUNTS".
expect_queue() {
  local line
  line=$(grep -E "^ +$2: " "$TMP/$1.log" | tail -n 1)
  [[ $line =~ ^\ +$2:\ +$3\ *$ ]] ||
    fail "bst $1: expected '$2: $3', got '${line:-no such line}': $(tail -n 12 "$TMP/$1.log")"
}
# expect_said NAME WHAT ELEMENT: bst NAME printed "WHAT artifact <key> " for ELEMENT's key.
expect_said() {
  grep -qE "\] INFO +$2 artifact ${KEY[$3]:0:8} " "$TMP/$1.log" ||
    fail "bst $1 did not say '$2 artifact ${KEY[$3]:0:8}' ($3): $(grep -E 'INFO|WARN' "$TMP/$1.log" | head -c 800)"
}
# grpc_calls METHOD: how many gRPC calls of METHOD the server answered OK, from /metrics.
grpc_calls() {
  expect 200 GET /metrics >/dev/null
  metric "ingot_grpc_calls_total{method=\"$1\",code=\"OK\"}"
}
# wipe_local_cache: bst's local artifact cache (and everything else it keeps) is gone.
wipe_local_cache() {
  rm -rf "$XDG_CACHE_HOME"
  mkdir -p "$XDG_CACHE_HOME"
}

step "ingot serve --grpc-listen, writable without a token (bst 1.6 sends none)"
start_server "$DATA" --grpc-listen 127.0.0.1:0 --anonymous write
grpc_port
bst_conf true
ok "artifacts: url: http://127.0.0.1:$GRPC_PORT, push: true"

step "the elements' cache keys"
bst_ok show show --deps all --format '%{name} %{full-key}' hello.bst
declare -A KEY
while read -r name key; do
  [[ $key =~ ^[0-9a-f]{64}$ ]] || fail "bst show: '$name $key' is not an element and its key"
  KEY[$name]=$key
done < <(grep -E '^[a-z]+\.bst [0-9a-f]{64}$' "$TMP/show.log")
[[ -n ${KEY[base.bst]:-} && -n ${KEY[hello.bst]:-} ]] || fail "bst show named no keys: $(cat "$TMP/show.log")"
ok "base.bst ${KEY[base.bst]:0:8}, hello.bst ${KEY[hello.bst]:0:8}"

step "bst build: both elements built (hello.bst in bubblewrap) and pushed to Ingot"
bst_ok build build hello.bst
expect_queue build "Build Queue" "processed 2, skipped 0, failed 0"
expect_queue build "Push Queue" "processed 2, skipped 0, failed 0"
expect_said build Pushed base.bst
expect_said build Pushed hello.bst
bst_ok checkout_base checkout base.bst "$FIRST/base"
bst_ok checkout_hello checkout hello.bst "$FIRST/hello"
greeting=$(cat "$FIRST/hello/share/hello/greeting.txt") || fail "hello.bst's checkout has no share/hello/greeting.txt"
[[ $greeting == "hello.bst read: hello from base.bst" ]] || fail "hello.bst built '$greeting'"
ok "Push Queue: processed 2, skipped 0, failed 0; hello.bst made '$greeting'"

step "bst's refs are Ingot refs: ingot ref list and GET /v1/refs/ name them"
cli refs ref list ingot-bst-test/ --server "$URL" --json
expect_rc 0 "ingot ref list"
for element in base hello; do
  ref="ingot-bst-test/$element/${KEY[$element.bst]}"
  expect_json "$TMP/refs.out" "any(r['name'] == '$ref' for r in j['refs'])" "ingot ref list ingot-bst-test/"
  expect 200 GET "/v1/refs/$ref"
done
nrefs=$(json "$TMP/refs.out" 'len(j["refs"])')
# One ref update per ref (an element's strong and weak keys are two refs when they differ):
# bst 1.6 uses Remote Asset's PushDirectory when the server has it (Ingot does), else
# ReferenceStorage's UpdateReference; and noise.bin (2 MiB) goes by ByteStream.
updates=$(grpc_calls Push/PushDirectory)
[[ $updates -eq $nrefs ]] || fail "the server answered $updates PushDirectory calls for $nrefs refs"
writes=$(grpc_calls ByteStream/Write)
[[ $writes -ge 1 ]] || fail "no ByteStream Write: bst sent the 2 MiB noise.bin some other way"
ok "$nrefs refs under ingot-bst-test/, the strong key of each element among them; $updates PushDirectory, $writes ByteStream Write"

step "ingot pull-tree --ref <project>/<element>/<key>: the artifact's files/, logs/ and meta/"
for element in base hello; do
  cli "pull_$element" pull-tree --server "$URL" --ref "ingot-bst-test/$element/${KEY[$element.bst]}" \
    "$TMP/tree-$element"
  expect_rc 0 "ingot pull-tree --ref ingot-bst-test/$element/…"
  for d in files logs meta; do
    [[ -d $TMP/tree-$element/$d ]] || fail "the $element artifact pulled by ingot has no $d/: $(ls "$TMP/tree-$element")"
  done
done
for f in share/base/noise.bin share/base/greeting.txt bin/sh; do
  cmp -s "$BASE/$f" "$TMP/tree-base/files/$f" || fail "ingot pull-tree: files/$f differs from base.bst's source"
done
[[ -x $TMP/tree-base/files/bin/sh ]] || fail "ingot pull-tree: files/bin/sh lost its executable bit"
[[ $(readlink "$TMP/tree-base/files/share/base/greeting-link") == greeting.txt ]] ||
  fail "ingot pull-tree: files/share/base/greeting-link is not the symlink to greeting.txt"
cmp -s "$FIRST/hello/share/hello/greeting.txt" "$TMP/tree-hello/files/share/hello/greeting.txt" ||
  fail "ingot pull-tree: hello's files/share/hello/greeting.txt differs from bst checkout's"
ok "noise.bin (2 MiB), greeting.txt and bin/sh (executable) byte-identical; the symlink kept"

step "the local cache wiped: bst pull brings both artifacts back, bst build builds nothing"
wipe_local_cache
bst_ok pull pull --deps all hello.bst
expect_queue pull "Pull Queue" "processed 2, skipped 0, failed 0"
expect_said pull Pulled base.bst
expect_said pull Pulled hello.bst
reads=$(grpc_calls ByteStream/Read)
[[ $reads -ge 3 ]] || fail "$reads ByteStream Reads for 2 root Directories and noise.bin, expected at least 3"
bst_ok rebuild build hello.bst
expect_queue rebuild "Build Queue" "processed 0, skipped 0, failed 0"
grep -q "\] START .*-build\." "$TMP/rebuild.log" && fail "bst build after the pull built: $(grep "START" "$TMP/rebuild.log")"
for element in base hello; do
  bst_ok "checkout2_$element" checkout "$element.bst" "$TMP/second-checkout/$element"
  diff -r --no-dereference "$FIRST/$element" "$TMP/second-checkout/$element" >"$TMP/diff.out" ||
    fail "bst checkout $element.bst after the pull differs from the first: $(head -c 600 "$TMP/diff.out")"
done
ok "Pulled artifact ${KEY[base.bst]:0:8} and ${KEY[hello.bst]:0:8}; Build Queue: processed 0; the same files"

step "a read-only server (--anonymous read): bst pulls, and is told it may not push"
cli refs_before ref list ingot-bst-test/ --server "$URL" --json
expect_rc 0 "ingot ref list"
stop_server
start_server "$DATA" --grpc-listen 127.0.0.1:0 --anonymous read
grpc_port
wipe_local_cache
bst_conf false
bst_ok pull_ro pull --deps all hello.bst
expect_queue pull_ro "Pull Queue" "processed 2, skipped 0, failed 0"
expect_said pull_ro Pulled base.bst
expect_said pull_ro Pulled hello.bst
# A new version of hello.bst, built locally, that bst would push.
sed -i 's/hello.bst read: /hello.bst (read-only run) read: /' "$PROJECT/elements/hello.bst"
bst_conf true
bst_run push_ro build hello.bst
[[ $RC -eq 0 ]] || fail "bst build against a read-only remote exited $RC: $(tail -n 20 "$TMP/push_ro.log")"
# bst checks at start-up that it may push (an empty BatchUpdateBlobs and PushDirectory): told
# PERMISSION_DENIED, as by its own server without --enable-push, it drops the remote for the
# session with a warning and builds locally.
said=$(grep -m1 "WARNING" "$TMP/push_ro.log" | sed 's/^.*WARNING *//')
[[ $said == "Failed to initialize remote http://127.0.0.1:$GRPC_PORT: "*"does not allow push"* ]] ||
  fail "bst does not say that the read-only server refuses pushes: '$said'"
expect_queue push_ro "Build Queue" "processed 1, skipped 0, failed 0"
grep -qE "^ +Push Queue:" "$TMP/push_ro.log" &&
  fail "bst queued pushes to the read-only server: $(grep -E "Push Queue" "$TMP/push_ro.log")"
cli refs_after ref list ingot-bst-test/ --server "$URL" --json
expect_rc 0 "ingot ref list"
[[ $(json "$TMP/refs_before.out" 'sorted(r["name"] for r in j["refs"])') == \
  "$(json "$TMP/refs_after.out" 'sorted(r["name"] for r in j["refs"])')" ]] ||
  fail "a read-only server took new refs: $(json "$TMP/refs_after.out" '[r["name"] for r in j["refs"]]')"
ok "Pulled both with push: false; with push: true bst warns: $said; built locally, no push queued, the refs unchanged"

step "mutual TLS, as bst 1.6 authenticates: a client certificate pushes to a server that is read-only without one"
stop_server
command -v openssl >/dev/null || fail "openssl is needed for the mutual TLS step (scripts/deps.sh test)"
PKI="$TMP/pki"
test_ca "$PKI"
test_cert "$PKI" server 127.0.0.1
test_cert "$PKI" builder ingot-bst-builder
start_server "$DATA" --anonymous read --grpc-listen 127.0.0.1:0 --grpc-tls-cert "$PKI/server.pem" \
  --grpc-tls-key "$PKI/server.key" --grpc-client-ca "$PKI/ca.pem"
grpc_port
printf 'artifacts:\n  url: https://127.0.0.1:%s\n  push: true\n  server-cert: %s\n  client-cert: %s\n  client-key: %s\n' \
  "$GRPC_PORT" "$PKI/ca.pem" "$PKI/builder.pem" "$PKI/builder.key" >"$CONF"
# hello.bst was changed above and built locally only: pushed now, over mTLS (base.bst is
# there already).
KEY[hello.bst]=$(bst --no-interactive --no-colors -c "$CONF" -C "$PROJECT" show --deps none \
  --format '%{full-key}' hello.bst)
key_tls=${KEY[hello.bst]}
bst_ok push_tls push --deps all hello.bst
expect_said push_tls Pushed hello.bst
expect 200 GET "/v1/refs/ingot-bst-test/hello/$key_tls"
wipe_local_cache
bst_ok pull_tls pull --deps all hello.bst
expect_queue pull_tls "Pull Queue" "processed 2, skipped 0, failed 0"
expect_said pull_tls Pulled hello.bst
ok "pushed hello.bst ${key_tls:0:8} with a client certificate; pulled both back over https://"

step "ingot serve stops by its PID"
stop_server
ok "ingot serve exited 0"
