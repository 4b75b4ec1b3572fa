#!/usr/bin/env bash
# The Nix binary cache under /nix, driven by Debian's stock nix (2.8) as root with no daemon,
# every store, config and cache inside the temp dir. Builds input-addressed paths with
# derivations (so that require-sigs applies: content-addressed paths pass it unsigned): `dep`,
# `top` referencing it, and a 5 MiB random `big`. Pushes them with `nix copy --to` (xz, the
# default, and zstd) using a write token from a netrc file and no client key; a push with no
# token and one with a read-only token must fail and store nothing. Pulls into fresh stores
# with require-sigs, by `nix copy --from` and as a substituter, trusting the server's key
# (same bytes as built), another key (refused), and after restarts with a new key and with
# both (the narinfos are signed at serve time). Narinfo PUTs that break the grammar or name
# what is not stored get 4xx and leave nothing behind. A nar removed from the CAS makes its
# narinfo a miss: substituting that path fails at once, and a new push repairs it. Then the
# optional files: a nar listing (.ls) and a build log (nix store copy-log); last, `ingot nix
# pin` keeps a closure substitutable through GC, and after `ingot nix unpin` GC takes it.
if ! command -v nix >/dev/null || ! command -v nix-store >/dev/null; then
  echo "SKIP [nix]: nix and nix-store are not installed (scripts/deps.sh test installs nix-bin)"
  exit 77
fi
source "$(dirname "$0")/lib.sh"
echo "using $(nix --version)"

KEYS="$TMP/keys"
DATA="$TMP/data"
NIXT="$TMP/nix" # the nix world: config, state, logs, caches, and every store
mkdir -p "$NIXT/conf" "$NIXT/state" "$NIXT/log" "$NIXT/home" "$NIXT/cache" "$NIXT/config"

# Store directories are read-only (0555) as nix leaves them: make them removable for the
# exit trap, which runs `rm -rf $TMP` even where we are not root.
_unlock_nix_stores() { chmod -R u+w "$NIXT" 2>/dev/null || true; }
_CLEANUP_HOOKS+=(_unlock_nix_stores)

# nix.conf for every command here. A store other than /nix/store (each command gets --store)
# makes nix build in a chroot even with sandbox = false: sandbox-paths lets /bin/sh and its
# libraries in. TTLs 0: nix would otherwise remember a narinfo miss (or hit) for an hour.
# No netrc by default: pushes name one with --option netrc-file.
sandbox_paths=/bin
for dir in /lib /lib64 /lib32 /libx32 /usr; do
  [[ -d $dir ]] && sandbox_paths+=" $dir"
done
cat >"$NIXT/conf/nix.conf" <<EOF
build-users-group =
sandbox = false
sandbox-paths = $sandbox_paths
substituters =
require-sigs = true
experimental-features = nix-command
narinfo-cache-negative-ttl = 0
narinfo-cache-positive-ttl = 0
netrc-file = $NIXT/no-netrc
store = $NIXT/default
EOF
NIX_ENV=(
  NIX_CONF_DIR="$NIXT/conf" NIX_USER_CONF_FILES="$NIXT/conf/nix.conf" NIX_STATE_DIR="$NIXT/state"
  NIX_LOG_DIR="$NIXT/log" HOME="$NIXT/home" XDG_CACHE_HOME="$NIXT/cache"
  XDG_CONFIG_HOME="$NIXT/config" XDG_DATA_HOME="$NIXT/home" NIX_REMOTE=
)

# in_nix NAME CMD...: runs a nix command in the test's nix world, stopped after 120 s (a
# retrying client must not hang the test); output (both streams) to $TMP/NAME.log; sets RC.
in_nix() {
  local name=$1
  shift
  RC=0
  env "${NIX_ENV[@]}" timeout 120 "$@" >"$TMP/$name.log" 2>&1 || RC=$?
}

# nix_ok NAME CMD...: the nix command must succeed.
nix_ok() {
  in_nix "$@"
  [[ $RC -eq 0 ]] || fail "$1: '${*:2}' exited $RC: $(tail -n 8 "$TMP/$1.log")"
  ok "$1"
}

# nix_fails NAME REGEX CMD...: the nix command must fail, not by the timeout, saying REGEX.
nix_fails() {
  local name=$1 regex=$2
  shift 2
  in_nix "$name" "$@"
  [[ $RC -ne 124 ]] || fail "$name: '$*' was still running after 120 s; expected a prompt failure"
  [[ $RC -ne 0 ]] || fail "$name: '$*' succeeded; expected a failure saying /$regex/: $(tail -n 5 "$TMP/$name.log")"
  grep -Eq "$regex" "$TMP/$name.log" ||
    fail "$name: failed (exit $RC) without saying /$regex/: $(tail -n 8 "$TMP/$name.log")"
  ok "$name: fails (...$(grep -Eo ".{0,100}($regex).{0,60}" "$TMP/$name.log" | head -n 1))"
}

# A fresh, empty store each time: $NIXT/NAME.
fresh_store() {
  [[ ! -e $NIXT/$1 ]] || fail "store $1 already exists"
  echo "$NIXT/$1"
}

# same_path STORE PATH: PATH in STORE is, byte for byte and in its layout, the one built.
same_path() {
  diff -r --no-dereference "$BUILT$2" "$1$2" >"$TMP/diff.out" 2>&1 ||
    fail "$2 in $1 differs from the one built: $(head -c 500 "$TMP/diff.out")"
}

# absent_path STORE PATH: PATH did not get into STORE.
absent_path() {
  [[ ! -e $1$2 ]] || fail "$2 is in $1; expected it to be refused"
}

hash_part() {
  local base=${1##*/}
  echo "${base%%-*}"
}

# narinfo_field FIELD: the value of a field of the narinfo in $BODY (first line with it).
narinfo_field() {
  sed -n "s/^$1: //p" "$BODY" | head -n 1
}

step "three input-addressed paths, built by derivations: dep, top (refers to dep), big (5 MiB)"
cat >"$TMP/paths.nix" <<'EOF'
let
  mk = name: script: derivation {
    inherit name script;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "eval \"$script\"" ];
    PATH = "/usr/bin:/bin";
  };
  dep = mk "dep" "echo 'the dependency' > $out";
in {
  inherit dep;
  top = mk "top" "echo building top, for the log; mkdir $out; echo ${dep} > $out/ref; printf 'top\\n' > $out/name; ln -s ref $out/link";
  big = mk "big" "head -c 5242880 /dev/urandom > $out";
}
EOF
BUILT=$NIXT/built
nix_ok build nix build --store "$BUILT" -f "$TMP/paths.nix" dep top big --no-link --json
sed -n '/^\[{/p' "$TMP/build.log" >"$TMP/build.json"
mapfile -t paths < <(python3 -c 'import json, sys
for d in json.load(open(sys.argv[1])): print(d["outputs"]["out"], d["drvPath"])' "$TMP/build.json" | sort -t- -k2) ||
  fail "cannot read the built paths from $(cat "$TMP/build.log")"
[[ ${#paths[@]} -eq 3 ]] || fail "expected 3 built paths, got: ${paths[*]} ($(cat "$TMP/build.log"))"
read -r BIG _ <<<"${paths[0]}"
read -r DEP _ <<<"${paths[1]}"
read -r TOP TOP_DRV <<<"${paths[2]}"
[[ $DEP == /nix/store/*-dep && $TOP == /nix/store/*-top && $BIG == /nix/store/*-big ]] ||
  fail "unexpected paths: ${paths[*]}"
[[ $(cat "$BUILT$TOP/ref") == "$DEP" ]] || fail "$TOP/ref does not name $DEP"
[[ $(stat -c %s "$BUILT$BIG") -eq 5242880 ]] || fail "$BIG is $(stat -c %s "$BUILT$BIG") bytes"
in_nix refs nix-store --store "$BUILT" --query --references "$TOP"
[[ $RC -eq 0 && $(cat "$TMP/refs.log") == "$DEP" ]] ||
  fail "the references of $TOP are '$(cat "$TMP/refs.log")', expected $DEP"
in_nix path-info nix path-info --store "$BUILT" --json "$DEP" "$TOP" "$BIG"
[[ $RC -eq 0 ]] || fail "nix path-info --json: $(cat "$TMP/path-info.log")"
python3 -c 'import json, sys
infos = json.load(open(sys.argv[1]))
sys.exit(0 if len(infos) == 3 and not any(i.get("ca") or i.get("signatures") for i in infos) else 1)' \
  "$TMP/path-info.log" || fail "expected 3 paths neither signed nor content-addressed: $(cat "$TMP/path-info.log")"
ok "$DEP, $TOP (refers to dep), $BIG: unsigned, not content-addressed"

step "keys and tokens; the server with cache-1"
"$INGOT" keygen --name cache-1 --out "$KEYS" >/dev/null || fail "ingot keygen --name cache-1 exited $?"
"$INGOT" keygen --name cache-2 --out "$KEYS" >/dev/null || fail "ingot keygen --name cache-2 exited $?"
for name in cache-1 cache-2; do
  grep -Eq "^$name:[A-Za-z0-9+/]{43}=\$" "$KEYS/$name.nix.pub" ||
    fail "$name.nix.pub is '$(cat "$KEYS/$name.nix.pub")', expected '$name:<base64 of 32 bytes>'"
done
PUB1=$(cat "$KEYS/cache-1.nix.pub")
PUB2=$(cat "$KEYS/cache-2.nix.pub")
WRITER=$(token_create "$DATA" read,write nix) || fail "token create (read,write) failed"
READER=$(token_create "$DATA" read nix-reader) || fail "token create (read) failed"
ADMIN=$(token_create "$DATA" admin root) || fail "token create (admin) failed"
[[ -n $WRITER && -n $READER && -n $ADMIN ]] || fail "token create printed no token"
printf 'machine 127.0.0.1 login ingot password %s\n' "$WRITER" >"$NIXT/netrc-write"
printf 'machine 127.0.0.1 login ingot password %s\n' "$READER" >"$NIXT/netrc-read"
chmod 600 "$NIXT/netrc-write" "$NIXT/netrc-read"
start_server "$DATA" --signing-key "$KEYS/cache-1.key"
CACHE="$URL/nix"

expect 200 GET /nix/nix-cache-info
for line in 'StoreDir: /nix/store' 'WantMassQuery: 1' 'Priority: 40'; do
  grep -qx "$line" "$BODY" || fail "nix-cache-info has no line '$line': $(cat "$BODY")"
done
for p in "$DEP" "$TOP" "$BIG"; do
  expect 404 GET "/nix/$(hash_part "$p").narinfo"
done

step "a push with no token, or a read-only one, fails and stores nothing"
nix_fails push-anonymous '401|Unauthorized' nix copy --store "$BUILT" --to "$CACHE" "$TOP"
nix_fails push-read-only '401|403|Unauthorized|Forbidden' \
  nix copy --store "$BUILT" --option netrc-file "$NIXT/netrc-read" --to "$CACHE" "$TOP"
for p in "$DEP" "$TOP"; do
  expect 404 GET "/nix/$(hash_part "$p").narinfo"
done

step "nix copy --to pushes with the netrc token and no client key: top's closure in xz, big in zstd"
nix_ok push-xz nix copy --store "$BUILT" --option netrc-file "$NIXT/netrc-write" --to "$CACHE" "$TOP"
nix_ok push-zstd nix copy --store "$BUILT" --option netrc-file "$NIXT/netrc-write" \
  --to "$CACHE?compression=zstd" "$BIG"
declare -A NAR_URL NAR_HEX
for p in "$DEP" "$TOP" "$BIG"; do
  h=$(hash_part "$p")
  expect 200 GET "/nix/$h.narinfo"
  cp "$BODY" "$TMP/$h.narinfo"
  [[ $(narinfo_field StorePath) == "$p" ]] || fail "$h.narinfo: StorePath is '$(narinfo_field StorePath)', expected $p"
  [[ $(grep -c '^Sig: ' "$BODY") -eq 1 && $(narinfo_field Sig) == cache-1:* ]] ||
    fail "$h.narinfo: expected one Sig line by cache-1; it has: $(grep '^Sig' "$BODY" | tr '\n' ' ')"
  ext=xz
  [[ $p == "$BIG" ]] && ext=zst
  url=$(narinfo_field URL)
  [[ $url =~ ^nar/[0-9a-df-np-sv-z]{52}\.nar\.$ext$ ]] || fail "$h.narinfo: URL '$url', expected nar/<nix32>.nar.$ext"
  expect 200 HEAD "/nix/$h.narinfo"
  expect 200 GET "/nix/$url"
  nix32=${url#nar/}
  nix32=${nix32%%.*}
  in_nix to-hex nix hash to-base16 --type sha256 "$nix32"
  [[ $RC -eq 0 && $(cat "$TMP/to-hex.log") == "$(sha256 "$BODY")" ]] ||
    fail "nar $url: its bytes hash to $(sha256 "$BODY"), its name says $(cat "$TMP/to-hex.log")"
  NAR_URL[$p]=$url
  NAR_HEX[$p]=$(sha256 "$BODY")
done
grep -qx "References: ${DEP##*/}" "$TMP/$(hash_part "$TOP").narinfo" ||
  fail "top's narinfo does not list dep: $(cat "$TMP/$(hash_part "$TOP").narinfo")"
nix_ok push-again nix copy --store "$BUILT" --option netrc-file "$NIXT/netrc-write" --to "$CACHE" "$TOP" "$BIG"

step "pull with require-sigs, trusting cache-1: nix copy --from, and as a substituter"
PULL1=$(fresh_store pull-copy)
nix_ok pull-copy nix copy --from "$CACHE" --to "$PULL1" --option trusted-public-keys "$PUB1" "$TOP" "$BIG"
for p in "$DEP" "$TOP" "$BIG"; do same_path "$PULL1" "$p"; done
ok "dep, top and big in $PULL1 are the ones built"
PULL2=$(fresh_store pull-subst)
nix_ok pull-subst nix-store --store "$PULL2" --option substituters "$CACHE" \
  --option trusted-public-keys "$PUB1" --realise "$TOP" "$BIG"
for p in "$DEP" "$TOP" "$BIG"; do same_path "$PULL2" "$p"; done
ok "dep, top and big substituted into $PULL2 are the ones built"
in_nix pulled-sigs nix path-info --store "$PULL2" --sigs "$TOP"
grep -q "[[:space:]]cache-1:" "$TMP/pulled-sigs.log" || fail "the substituted top has no cache-1 signature: $(cat "$TMP/pulled-sigs.log")"
nix_ok verify-pulled nix store verify --store "$PULL2" --option trusted-public-keys "$PUB1" -r "$TOP" "$BIG"

step "a store trusting another key refuses what the server signs"
WRONG1=$(fresh_store wrong-copy)
nix_fails wrong-key-copy 'lacks a valid signature|not signed by any of the keys' \
  nix copy --from "$CACHE" --to "$WRONG1" --option trusted-public-keys "$PUB2" "$TOP"
absent_path "$WRONG1" "$TOP"
absent_path "$WRONG1" "$DEP"
WRONG2=$(fresh_store wrong-subst)
nix_fails wrong-key-subst 'lacks a valid signature|not signed by any of the keys' \
  nix-store --store "$WRONG2" --option substituters "$CACHE" --option trusted-public-keys "$PUB2" --realise "$BIG"
absent_path "$WRONG2" "$BIG"

step "/metrics and /v1/stats count nix hits and misses"
# The names may change: a sample line naming nix and hit (and one naming nix and miss) with a
# value above 0, after the misses before the push and the hits of the pulls.
expect 200 GET /metrics
for what in hit miss; do
  awk -v w="$what" '!/^#/ && /nix/ && index($0, w) && $NF > 0 { found = 1 } END { exit !found }' "$BODY" ||
    fail "/metrics has no sample naming nix and '$what' above 0: $(grep -v '^#' "$BODY" | grep nix | tr '\n' ' ' | head -c 800)"
done
ok "/metrics: $(grep -v '^#' "$BODY" | grep nix | grep -E 'hit|miss' | tr '\n' ' ')"
expect 200 GET /v1/stats
grep -q '"nix"' "$BODY" || fail "/v1/stats says nothing about nix: $(head -c 800 "$BODY")"

step "narinfo PUTs that break the grammar or name what is not stored: 4xx, nothing stored"
# A narinfo as nix pushed it, for dep (whose nar is stored), without its Sig line.
grep -v '^Sig: ' "$TMP/$(hash_part "$DEP").narinfo" >"$TMP/dep.narinfo"
# fake_hash N: a store path hash (32 nix32 digits) that names nothing.
fake_hash() {
  in_nix fake-hash nix hash to-base32 --type sha1 "$(printf 'ingot nix test %s %s' "$1" "$RANDOM" | sha1sum | cut -d' ' -f1)"
  [[ $RC -eq 0 ]] || fail "nix hash to-base32: $(cat "$TMP/fake-hash.log")"
  cat "$TMP/fake-hash.log"
}
# variant NAME HASH SED...: dep's narinfo for /nix/store/HASH-NAME, edited by the sed scripts.
variant() {
  local name=$1 h=$2
  shift 2
  local -a edits=(-e "s|^StorePath: .*|StorePath: /nix/store/$h-$name|")
  local e
  for e in "$@"; do edits+=(-e "$e"); done
  sed "${edits[@]}" "$TMP/dep.narinfo" >"$TMP/$name.narinfo"
}
# put_narinfo STATUS NAME HASH [curl options]: PUT $TMP/NAME.narinfo as HASH.narinfo with the
# write token (as nix sends it), expecting STATUS; a refused one must then be a 404.
put_narinfo() {
  local want=$1 name=$2 h=$3
  shift 3
  expect "$want" PUT "/nix/$h.narinfo" -u "ingot:$WRITER" -H 'Content-Type: text/x-nix-narinfo' \
    --data-binary "@$TMP/$name.narinfo" "$@"
  if [[ $want -ge 400 ]]; then
    expect 404 GET "/nix/$h.narinfo"
    expect 404 HEAD "/nix/$h.narinfo"
  fi
}
# The control: the same edits' starting point, for a new path, is accepted.
H=$(fake_hash control)
variant control "$H"
req PUT "/nix/$H.narinfo" -u "ingot:$WRITER" -H 'Content-Type: text/x-nix-narinfo' --data-binary "@$TMP/control.narinfo"
[[ $STATUS == 200 || $STATUS == 201 || $STATUS == 204 ]] ||
  fail "PUT of a valid narinfo (dep's, for a new path $H-control): expected 2xx, got $STATUS: $(head -c 300 "$BODY")"
ok "PUT a valid narinfo for a new path -> $STATUS"
expect 200 GET "/nix/$H.narinfo"
grep -qx "StorePath: /nix/store/$H-control" "$BODY" || fail "the control narinfo reads back as: $(cat "$BODY")"
grep -q '^Sig: cache-1:' "$BODY" || fail "the control narinfo is served unsigned: $(cat "$BODY")"

H=$(fake_hash anonymous)
variant anonymous "$H"
expect 401 PUT "/nix/$H.narinfo" -H 'Content-Type: text/x-nix-narinfo' --data-binary "@$TMP/anonymous.narinfo"
expect 404 GET "/nix/$H.narinfo"
H=$(fake_hash crlf)
variant crlf "$H" 's/$/\r/'
put_narinfo 400 crlf "$H"
H=$(fake_hash no-narhash)
variant no-narhash "$H" '/^NarHash: /d'
put_narinfo 400 no-narhash "$H"
H=$(fake_hash no-narsize)
variant no-narsize "$H" '/^NarSize: /d'
put_narinfo 400 no-narsize "$H"
H=$(fake_hash narsize-0)
variant narsize-0 "$H" 's/^NarSize: .*/NarSize: 0/'
put_narinfo 400 narsize-0 "$H"
H=$(fake_hash other-hash)
variant other-hash "$(fake_hash named)"
put_narinfo 400 other-hash "$H"
H=$(fake_hash nar-not-stored)
in_nix fake-nar nix hash to-base32 --type sha256 "$(printf 'no such nar %s' "$RANDOM" | sha256sum | cut -d' ' -f1)"
[[ $RC -eq 0 ]] || fail "nix hash to-base32: $(cat "$TMP/fake-nar.log")"
variant nar-not-stored "$H" "s|^URL: .*|URL: nar/$(cat "$TMP/fake-nar.log").nar.xz|"
put_narinfo 409 nar-not-stored "$H"
H=$(fake_hash missing-ref)
variant missing-ref "$H" "s|^References: .*|References: $(fake_hash absent)-absent|"
put_narinfo 409 missing-ref "$H"

step "restart signing with cache-2 only: the same narinfos are signed by cache-2"
stop_server
start_server "$DATA" --signing-key "$KEYS/cache-2.key"
CACHE="$URL/nix"
expect 200 GET "/nix/$(hash_part "$TOP").narinfo"
[[ $(grep -c '^Sig: ' "$BODY") -eq 1 && $(narinfo_field Sig) == cache-2:* ]] ||
  fail "top's narinfo: expected one Sig line by cache-2; it has: $(grep '^Sig' "$BODY" | tr '\n' ' ')"
ROT2=$(fresh_store rotated-2)
nix_ok subst-cache-2 nix-store --store "$ROT2" --option substituters "$CACHE" \
  --option trusted-public-keys "$PUB2" --realise "$TOP" "$BIG"
for p in "$DEP" "$TOP" "$BIG"; do same_path "$ROT2" "$p"; done
ok "a store trusting only cache-2 substitutes dep, top and big"
ROT1=$(fresh_store rotated-1)
nix_fails subst-cache-1-gone 'lacks a valid signature|not signed by any of the keys' \
  nix-store --store "$ROT1" --option substituters "$CACHE" --option trusted-public-keys "$PUB1" --realise "$TOP"
absent_path "$ROT1" "$TOP"

step "restart with both keys (cache-2, cache-1) and --nix-priority 30: each key alone suffices"
stop_server
start_server "$DATA" --signing-key "$KEYS/cache-2.key" --signing-key "$KEYS/cache-1.key" --nix-priority 30
CACHE="$URL/nix"
expect 200 GET /nix/nix-cache-info
grep -qx 'Priority: 30' "$BODY" || fail "nix-cache-info with --nix-priority 30: $(cat "$BODY")"
expect 200 GET "/nix/$(hash_part "$TOP").narinfo"
[[ $(grep '^Sig: ' "$BODY" | cut -d: -f2 | sort | tr '\n' ' ') == " cache-1  cache-2 " ]] ||
  fail "top's narinfo: expected a Sig line by cache-1 and one by cache-2; it has: $(grep '^Sig' "$BODY" | tr '\n' ' ')"
BOTH1=$(fresh_store both-1)
nix_ok subst-old-key nix-store --store "$BOTH1" --option substituters "$CACHE" \
  --option trusted-public-keys "$PUB1" --realise "$TOP"
same_path "$BOTH1" "$TOP"
BOTH2=$(fresh_store both-2)
nix_ok copy-new-key nix copy --from "$CACHE" --to "$BOTH2" --option trusted-public-keys "$PUB2" "$TOP"
same_path "$BOTH2" "$TOP"

step "a nar removed from the CAS: its narinfo is a miss and substituting it fails at once"
expect 401 DELETE "/cas/${NAR_HEX[$BIG]}"
expect 403 DELETE "/cas/${NAR_HEX[$BIG]}" -H "Authorization: Bearer $WRITER"
req DELETE "/cas/${NAR_HEX[$BIG]}" -H "Authorization: Bearer $ADMIN"
[[ $STATUS == 200 || $STATUS == 204 ]] ||
  fail "DELETE /cas/${NAR_HEX[$BIG]} (big's nar) as admin: expected 200 or 204, got $STATUS: $(head -c 300 "$BODY")"
ok "DELETE /cas/<big's nar> as admin -> $STATUS"
expect 404 GET "/nix/${NAR_URL[$BIG]}"
expect 404 GET "/nix/$(hash_part "$BIG").narinfo"
expect 404 HEAD "/nix/$(hash_part "$BIG").narinfo"
expect 200 GET "/nix/$(hash_part "$TOP").narinfo"
EVICT=$(fresh_store evicted)
SECONDS=0
nix_fails subst-evicted "don't know how to build|no substituter that can build it|required, but there is no substituter" \
  nix-store --store "$EVICT" --option substituters "$CACHE" --option trusted-public-keys "$PUB1" --realise "$BIG"
[[ $SECONDS -le 30 ]] || fail "substituting the evicted path took $SECONDS s to fail"
! grep -q 'does not exist in binary cache' "$TMP/subst-evicted.log" ||
  fail "nix saw a narinfo whose nar is gone (a broken download, not a miss): $(cat "$TMP/subst-evicted.log")"
absent_path "$EVICT" "$BIG"
nix_ok subst-others nix-store --store "$EVICT" --option substituters "$CACHE" \
  --option trusted-public-keys "$PUB1" --realise "$TOP"
same_path "$EVICT" "$TOP"
ok "top still substitutes from the same cache"

step "pushing big again repairs it; this time with its listing (.ls)"
nix_ok push-repair nix copy --store "$BUILT" --option netrc-file "$NIXT/netrc-write" \
  --to "$CACHE?compression=zstd&write-nar-listing=true" "$BIG"
expect 200 GET "/nix/$(hash_part "$BIG").narinfo"
nix_ok subst-repaired nix-store --store "$EVICT" --option substituters "$CACHE" \
  --option trusted-public-keys "$PUB1" --realise "$BIG"
same_path "$EVICT" "$BIG"
expect 200 GET "/nix/$(hash_part "$BIG").ls"
expect_json "$BODY" "j['root']['type'] == 'regular' and j['root']['size'] == 5242880" "big's listing"

step "build logs: nix store copy-log --to, then GET log/<drv>"
nix_ok copy-log nix store copy-log --store "$BUILT" --from "$BUILT" --option netrc-file "$NIXT/netrc-write" \
  --to "$CACHE" "$TOP_DRV"
expect 200 GET "/nix/log/${TOP_DRV##*/}"
grep -q 'building top, for the log' "$BODY" || fail "log/${TOP_DRV##*/} is not top's build log: $(head -c 300 "$BODY")"

step "ingot nix pin keeps top's closure through GC; unpinned, GC takes it"
# POST /v1/gc?target=1 evicts everything not pinned (gc.sh): big goes, pinned dep and top stay.
INGOT_SERVER=$URL INGOT_TOKEN=$WRITER "$INGOT" nix pin "$TOP" >"$TMP/pin.out" 2>&1 ||
  fail "ingot nix pin $TOP exited $?: $(cat "$TMP/pin.out")"
ok "ingot nix pin $TOP: $(head -n 1 "$TMP/pin.out")"
expect 200 POST '/v1/gc?target=1' -H "Authorization: Bearer $ADMIN"
expect 404 GET "/nix/$(hash_part "$BIG").narinfo"
PINNED=$(fresh_store pinned)
nix_ok subst-pinned nix-store --store "$PINNED" --option substituters "$CACHE" \
  --option trusted-public-keys "$PUB1" --realise "$TOP"
for p in "$DEP" "$TOP"; do same_path "$PINNED" "$p"; done
nix_fails subst-collected "don't know how to build|no substituter that can build it" \
  nix-store --store "$PINNED" --option substituters "$CACHE" --option trusted-public-keys "$PUB1" --realise "$BIG"
INGOT_SERVER=$URL INGOT_TOKEN=$WRITER "$INGOT" nix unpin "$TOP" >"$TMP/unpin.out" 2>&1 ||
  fail "ingot nix unpin $TOP exited $?: $(cat "$TMP/unpin.out")"
expect 200 POST '/v1/gc?target=1' -H "Authorization: Bearer $ADMIN"
expect 404 GET "/nix/$(hash_part "$TOP").narinfo"
expect 404 GET "/nix/$(hash_part "$DEP").narinfo"
UNPINNED=$(fresh_store unpinned)
nix_fails subst-unpinned "don't know how to build|no substituter that can build it" \
  nix-store --store "$UNPINNED" --option substituters "$CACHE" --option trusted-public-keys "$PUB1" --realise "$TOP"
stop_server
