#!/usr/bin/env bash
# The Nix binary cache's routes seen from curl, without nix (tests/integration/nix.sh drives
# the real client): nix-cache-info without a token, nars checked against the hash in their
# name, every way a narinfo PUT is refused (and that nothing is then visible), signed
# narinfos, completeness once a nar is gone, pins, and the nix lookups in /metrics.
source "$(dirname "$0")/lib.sh"

# nix32 HEX: Nix's base-32 of the bytes HEX spells (docs/nix-client-facts.md).
nix32() {
  local hex=$1 alphabet=0123456789abcdfghijklmnpqrsvwxyz
  local -a bytes=()
  local i n=$((${#1} / 2)) out=
  for ((i = 0; i < n; i++)); do bytes+=($((16#${hex:2*i:2}))); done
  local len=$(((n * 8 + 4) / 5)) b j c v
  for ((i = len - 1; i >= 0; i--)); do
    b=$((i * 5)) j=$((b / 8)) c=$((b % 8))
    v=$((bytes[j] >> c))
    if ((j + 1 < n)); then v=$((v | (bytes[j + 1] << (8 - c)))); fi
    out+=${alphabet:v & 31:1}
  done
  printf '%s' "$out"
}
[[ $(nix32 30ba3b06f6b15862e0dddbd2ccb3c1991877fbc0eb0c6fd7d8eeb6e9018903f1) == \
  1w83i40ykdpfv3bny37bq3xpf64rq6rwrlnvvph64n5iyq33pfih ]] || fail "the test's nix32 is wrong"

# A store path: HASH32 (from 20 random bytes) and a nar of random bytes.
new_path() {
  local name=$1
  HASH32=$(nix32 "$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')")
  random_file "$TMP/$name.nar" $((3000 + RANDOM))
  NAR_HEX=$(sha256 "$TMP/$name.nar")
  NAR32=$(nix32 "$NAR_HEX")
  NAR_SIZE=$(stat -c %s "$TMP/$name.nar")
}

# narinfo FILE HASH32 NAME NAR32 SIZE [REFERENCES]: as nix writes it with compression=none.
narinfo() {
  printf 'StorePath: /nix/store/%s-%s\nURL: nar/%s.nar\nCompression: none\nFileHash: sha256:%s\nFileSize: %s\nNarHash: sha256:%s\nNarSize: %s\nReferences: %s\n' \
    "$2" "$3" "$4" "$4" "$5" "$4" "$5" "${6:-}" >"$1"
}

DATA="$TMP/data"
"$INGOT" keygen --name cache-1 --out "$TMP" >/dev/null || fail "ingot keygen failed"
start_server "$DATA" --anonymous none --nix-priority 30 --signing-key "$TMP/cache-1.key"
ADMIN=$(token_create "$DATA" admin admin)
WRITER=$(token_create "$DATA" read,write writer)
READER=$(token_create "$DATA" read reader)
[[ -n $ADMIN && -n $WRITER && -n $READER ]] || fail "ingot token create printed no token"
W=(-u "hydra:$WRITER")
R=(-u "substituter:$READER")

step "nix-cache-info: always 200, no token, even with --anonymous none"
expect 200 GET /nix/nix-cache-info
expect_body $'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n'
expect 200 HEAD /nix/nix-cache-info
# nix PUTs it when its GET failed: accepted, and it changes nothing.
expect 200 PUT /nix/nix-cache-info --data-binary $'StoreDir: /nix/store\n'
expect 200 GET /nix/nix-cache-info
expect_body $'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n'

step "a nar: writes need a token; the bytes must hash to its name"
new_path dep
DEP=$HASH32 DEP_NAR32=$NAR32 DEP_HEX=$NAR_HEX DEP_SIZE=$NAR_SIZE
expect 401 PUT "/nix/nar/$DEP_NAR32.nar" --data-binary @"$TMP/dep.nar"
expect 403 PUT "/nix/nar/$DEP_NAR32.nar" "${R[@]}" --data-binary @"$TMP/dep.nar"
random_file "$TMP/other" 100
expect 400 PUT "/nix/nar/$DEP_NAR32.nar" "${W[@]}" --data-binary @"$TMP/other"
expect 404 HEAD "/nix/nar/$DEP_NAR32.nar" "${R[@]}"
expect 200 PUT "/nix/nar/$DEP_NAR32.nar" "${W[@]}" -H 'Expect: 100-continue' \
  --data-binary @"$TMP/dep.nar"
expect 200 HEAD "/nix/nar/$DEP_NAR32.nar" "${R[@]}"
expect_header Content-Length "^$DEP_SIZE\$"
expect 206 GET "/nix/nar/$DEP_NAR32.nar" "${R[@]}" -H 'Range: bytes=10-19'
slice "$TMP/dep.nar" 10 10 >"$TMP/range"
expect_body_file "$TMP/range"

step "narinfo PUTs that are refused leave nothing visible"
narinfo "$TMP/dep.narinfo" "$DEP" dep "$DEP_NAR32" "$DEP_SIZE"
new_path top
TOP=$HASH32 TOP_NAR32=$NAR32 TOP_HEX=$NAR_HEX TOP_SIZE=$NAR_SIZE
narinfo "$TMP/top.narinfo" "$TOP" top "$TOP_NAR32" "$TOP_SIZE" "$DEP-dep $TOP-top"
expect 401 PUT "/nix/$DEP.narinfo" --data-binary @"$TMP/dep.narinfo"
# its nar is not stored yet
expect 409 PUT "/nix/$TOP.narinfo" "${W[@]}" --data-binary @"$TMP/top.narinfo"
grep -q "PUT the nar first" "$BODY" || fail "409 does not say what to do: $(cat "$BODY")"
expect 200 PUT "/nix/nar/$TOP_NAR32.nar" "${W[@]}" --data-binary @"$TMP/top.nar"
# its reference dep has no narinfo yet
expect 409 PUT "/nix/$TOP.narinfo" "${W[@]}" --data-binary @"$TMP/top.narinfo"
grep -q "$DEP-dep" "$BODY" || fail "409 does not name the reference: $(cat "$BODY")"
# the path of another URL
expect 400 PUT "/nix/$TOP.narinfo" "${W[@]}" --data-binary @"$TMP/dep.narinfo"
# CRLF line ends
sed 's/$/\r/' "$TMP/dep.narinfo" >"$TMP/crlf.narinfo"
expect 400 PUT "/nix/$DEP.narinfo" "${W[@]}" --data-binary @"$TMP/crlf.narinfo"
# NarSize 0, and no NarHash
sed 's/^NarSize: .*/NarSize: 0/' "$TMP/dep.narinfo" >"$TMP/zero.narinfo"
expect 400 PUT "/nix/$DEP.narinfo" "${W[@]}" --data-binary @"$TMP/zero.narinfo"
grep -v '^NarHash' "$TMP/dep.narinfo" >"$TMP/nohash.narinfo"
expect 400 PUT "/nix/$DEP.narinfo" "${W[@]}" --data-binary @"$TMP/nohash.narinfo"
expect 400 PUT "/nix/$DEP.narinfo" "${W[@]}" --data-binary 'not a narinfo at all'
expect 400 GET "/nix/not-a-hash.narinfo" "${R[@]}"
expect 404 GET "/nix/$DEP.narinfo" "${R[@]}"
expect 404 GET "/nix/$TOP.narinfo" "${R[@]}"

step "narinfos in dependency order; each readable, signed, once its PUT returns"
expect 200 PUT "/nix/$DEP.narinfo" "${W[@]}" -H 'Expect: 100-continue' \
  --data-binary @"$TMP/dep.narinfo"
expect 200 GET "/nix/$DEP.narinfo" "${R[@]}"
expect_header Content-Type '^text/x-nix-narinfo$'
grep -q "^StorePath: /nix/store/$DEP-dep\$" "$BODY" || fail "narinfo: $(cat "$BODY")"
grep -Eq '^Sig: cache-1:[A-Za-z0-9+/]{86}==$' "$BODY" || fail "no Sig by cache-1: $(cat "$BODY")"
expect 200 PUT "/nix/$TOP.narinfo" "${W[@]}" --data-binary @"$TMP/top.narinfo"
expect 200 HEAD "/nix/$TOP.narinfo" "${R[@]}"
expect 401 GET "/nix/$TOP.narinfo" # --anonymous none: nix takes this for a miss

step "listings, logs and realisations are stored as given"
printf '{"version":1,"root":{"type":"regular","size":3}}' >"$TMP/ls"
expect 200 PUT "/nix/$DEP.ls" "${W[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/ls"
expect 200 GET "/nix/$DEP.ls" "${R[@]}"
expect_body_file "$TMP/ls"
printf 'building...\ndone\n' >"$TMP/log"
expect 200 PUT "/nix/log/$DEP-dep.drv" "${W[@]}" --data-binary @"$TMP/log"
expect 200 GET "/nix/log/$DEP-dep.drv" "${R[@]}"
expect_body_file "$TMP/log"
expect 200 PUT "/nix/realisations/sha256:$DEP_NAR32!out.doi" "${W[@]}" --data-binary '{}'
expect 200 GET "/nix/realisations/sha256:$DEP_NAR32!out.doi" "${R[@]}"
expect_body '{}'
expect 400 GET "/nix/nar/..%2f..%2fetc%2fpasswd" "${R[@]}"

step "pins: the closure of a path, through the CLI"
export INGOT_SERVER=$URL INGOT_TOKEN=$WRITER
cli pin nix pin "/nix/store/$TOP-top"
expect_rc 0 pin
grep -q "4 blobs" "$TMP/pin.out" || fail "ingot nix pin printed: $(cat "$TMP/pin.out")"
cli pin_bad nix pin /etc/passwd
expect_rc 2 pin_bad
cli unpin nix unpin "/nix/store/$TOP-top"
expect_rc 0 unpin
cli unpin_again nix unpin "/nix/store/$TOP-top"
expect_rc 3 unpin_again

step "a narinfo whose nar is gone is a miss, and a hit again once the nar is back"
expect 200 DELETE "/cas/$DEP_HEX" -H "Authorization: Bearer $ADMIN"
expect 404 GET "/nix/$DEP.narinfo" "${R[@]}"
grep -q "no longer stored" "$BODY" || fail "the miss does not say why: $(cat "$BODY")"
cli pin_broken nix pin "/nix/store/$TOP-top"
expect_rc 3 pin_broken
grep -q "$DEP" "$TMP/pin_broken.err" || fail "pin does not name the missing path: $(cat "$TMP/pin_broken.err")"
expect 200 PUT "/nix/nar/$DEP_NAR32.nar" "${W[@]}" --data-binary @"$TMP/dep.nar"
expect 200 GET "/nix/$DEP.narinfo" "${R[@]}"

step "nix lookups in /metrics"
expect 200 GET /metrics "${R[@]}"
hits=$(metric 'ingot_cache_lookups_total{namespace="nix",result="hit"}')
misses=$(metric 'ingot_cache_lookups_total{namespace="nix",result="miss"}')
[[ $hits -ge 3 && $misses -ge 3 ]] || fail "nix lookups: $hits hits, $misses misses"
ok "nix lookups: $hits hits, $misses misses"

stop_server
echo "PASS"
