#!/usr/bin/env bash
# The disk bound and garbage collection, seen from curl and the CLI: a pinned tree that fills
# --max-size makes new writes 507 (one line naming the pinned size and the limit) while reads
# go on, and unpinning makes room; ac and kv entries whose blobs are gone are misses; POST
# /v1/gc needs admin, a dry run deletes nothing and reports what the real run then evicts;
# an admin DELETE /cas/ purges a blob (and breaks the ref that named it); /metrics and
# /v1/stats show the bound, pins and GC runs; `ingot stats` and `ingot gc` with the server
# stopped (refused while it runs); a restart with a lower --max-size serves at once and
# background GC brings `du -sb` under the bound soon after. `du -sb` of the data dir is
# checked against the bound (plus the 1/32 slack README "Disk bound" allows) throughout.
# Last, the checks that found server bugs (so that everything above runs whatever they find):
# blobs written in the second a GC run ends are evicted by later runs; evictions a write makes
# for itself are counted in the GC metrics; a purged file of a pinned tree is pinned again when
# it comes back; purging a kv value drops its entry from the counts.
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || fail "python3 is needed (to read JSON) and is not installed"

MIB=$((1024 * 1024))
BOUND=$((8 * MIB))
SLACK=$((BOUND / 32))

# --- helpers ---------------------------------------------------------------------------------

du_bytes() { du -sb "$1" 2>/dev/null | cut -f1; }

# expect_under_bound DIR BOUND: du -sb DIR is at most BOUND plus the slack.
expect_under_bound() {
  local used
  used=$(du_bytes "$1")
  [[ $used -le $(($2 + $2 / 32)) ]] ||
    fail "du -sb $1 is $used bytes, over the bound $2 plus 1/32 slack ($(($2 / 32)))"
  ok "du -sb is $used bytes, bound $2 (+$(($2 / 32)) slack)"
}

# varint N: N as a protobuf base-128 varint, in printf %b escapes.
varint() {
  local n=$1 out=
  while ((n >= 128)); do
    out+=$(printf '\\x%02x' $(((n & 127) | 128)))
    n=$((n >> 7))
  done
  printf '%s\\x%02x' "$out" "$n"
}

# proto_files OUT TAG NAME FILE [NAME FILE...]: a protobuf message with one repeated field TAG
# (printf escape of its key byte) per file, each {1: NAME, 2: Digest{1: hex, 2: size}}. TAG
# \x0a gives a REAPI Directory with FileNodes (names must come sorted); \x12 an ActionResult
# with OutputFiles.
proto_files() {
  local out=$1 tag=$2 name file size len
  shift 2
  : >"$out"
  while (($# >= 2)); do
    name=$1 file=$2
    shift 2
    size=$(stat -c %s "$file")
    printf '\x0a\x40%s\x10%b' "$(sha256 "$file")" "$(varint "$size")" >"$out.digest"
    len=$(stat -c %s "$out.digest")
    {
      printf '\x0a%b%s\x12%b' "$(varint ${#name})" "$name" "$(varint "$len")"
      cat "$out.digest"
    } >"$out.node"
    len=$(stat -c %s "$out.node")
    {
      printf '%b%b' "$tag" "$(varint "$len")"
      cat "$out.node"
    } >>"$out"
  done
  rm -f "$out.digest" "$out.node"
}

# digest_of FILE: "<hex>/<size>", as refs and /v1/trees name a tree.
digest_of() { echo "$(sha256 "$1")/$(stat -c %s "$1")"; }

put_file() { expect 200 PUT "/cas/$(sha256 "$1")" --data-binary @"$1" "${@:2}"; }

# stats: GET /v1/stats into $TMP/stats.json.
stats() {
  expect 200 GET /v1/stats
  cp "$BODY" "$TMP/stats.json"
}

# next_tick: returns once every use made so far has an older tick than any use made after.
# Eviction orders by the second of last use, and uses are written with the time of their
# flush (twice a second), so: two second boundaries. This orders uses; it does not wait for
# the server to do something.
next_tick() {
  local now i
  for i in 1 2; do
    now=$(date +%s)
    while [[ $(date +%s) == "$now" ]]; do sleep 0.05; done
  done
}

DATA="$TMP/data"
start_server "$DATA" --max-size 8MiB --anonymous write
ADMIN=$(token_create "$DATA" admin admin)
WRITER=$(token_create "$DATA" read,write writer)
READER=$(token_create "$DATA" read reader)
[[ -n $ADMIN && -n $WRITER && -n $READER ]] || fail "ingot token create printed no token"
AS_ADMIN=(-H "Authorization: Bearer $ADMIN")

# --- (a) pinned data fills the bound ---------------------------------------------------------

step "a tree whose files take most of the 8 MiB bound, named by a pinned ref"
random_file "$TMP/lib.so" $((5 * MIB / 2))
random_file "$TMP/tool" $((5 * MIB / 2))
proto_files "$TMP/dir" '\x0a' lib.so "$TMP/lib.so" tool "$TMP/tool"
DIR=$(digest_of "$TMP/dir")
put_file "$TMP/lib.so"
put_file "$TMP/tool"
# A ref to a tree that is not all there yet is refused.
expect 400 PUT /v1/refs/release/1.0 --data-binary "{\"digest\":\"$DIR\",\"pinned\":true}"
put_file "$TMP/dir"
expect 200 PUT /v1/refs/release/1.0 --data-binary "{\"digest\":\"$DIR\",\"pinned\":true}"
expect_json "$BODY" "j['name'] == 'release/1.0' and j['digest'] == '$DIR' and j['pinned'] is True" \
  "PUT /v1/refs answer"
expect 200 GET /v1/refs/release/1.0
expect_json "$BODY" "j['digest'] == '$DIR' and j['pinned'] is True and abs(j['updated_unix_ms'] / 1000 - $(date +%s)) < 60" \
  "GET /v1/refs/release/1.0"
expect 200 GET '/v1/refs?prefix=release/'
expect_json "$BODY" "[r['name'] for r in j['refs']] == ['release/1.0'] and j['refs'][0]['pinned'] is True" \
  "the listing of prefix release/"
expect 200 GET '/v1/refs?prefix=nothing-here'
expect_json "$BODY" "j['refs'] == []" "the listing of an unused prefix"
expect 200 GET "/v1/trees/$DIR"
{
  printf '\x0a%b' "$(varint "$(stat -c %s "$TMP/dir")")"
  cat "$TMP/dir"
} >"$TMP/tree"
expect_body_file "$TMP/tree"
ok "/v1/trees answers the REAPI Tree {root: the Directory}"
stats
expect_json "$TMP/stats.json" "j['disk']['pinned_bytes'] >= 5 * $MIB and j['disk']['max_size_bytes'] == $BOUND" \
  "/v1/stats after pinning 5 MiB"
ok "pinned_bytes $(json "$TMP/stats.json" "j['disk']['pinned_bytes']")"
expect_under_bound "$DATA" $BOUND

step "new writes that cannot fit get 507 naming the pinned size and the limit"
random_file "$TMP/new" $((2 * MIB))
NEW=$(sha256 "$TMP/new")
for _ in 1 2 3; do
  expect 507 PUT "/cas/$NEW" --data-binary @"$TMP/new"
done
MESSAGE=$(cat "$BODY")
[[ $MESSAGE =~ pinned && $MESSAGE =~ (8 ?MiB|8388608) && $MESSAGE =~ (5(\.0)? ?MiB|52[0-9]{5}) ]] ||
  fail "the 507 message does not name the pinned size (5 MiB) and the limit (8 MiB): $MESSAGE"
ok "says: $MESSAGE"
expect 507 PUT /kv/ccache/big --data-binary @"$TMP/new"
expect 507 PUT "/cas/$NEW" -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/new"
expect 404 GET "/cas/$NEW"
expect 404 GET /kv/ccache/big
expect_under_bound "$DATA" $BOUND

step "reads go on while writes are refused"
expect 200 GET "/cas/$(sha256 "$TMP/lib.so")"
expect_body_file "$TMP/lib.so"
expect 200 HEAD "/cas/$(sha256 "$TMP/tool")"
expect 200 GET "/v1/trees/$DIR"
expect 200 GET /v1/refs/release/1.0
expect 200 GET /healthz

step "unpinning (DELETE /v1/refs) makes room again"
expect 200 DELETE /v1/refs/release/1.0
expect 404 GET /v1/refs/release/1.0
stats
expect_json "$TMP/stats.json" "j['disk']['pinned_bytes'] == 0" "pinned_bytes after the ref was deleted"
expect 200 PUT "/cas/$NEW" --data-binary @"$TMP/new"
expect 200 GET "/cas/$NEW"
expect_body_file "$TMP/new"
expect_under_bound "$DATA" $BOUND

# --- (b) completeness ------------------------------------------------------------------------

step "a kv entry whose blob was purged is a miss"
random_file "$TMP/kv1" 65536
expect 200 PUT /kv/app/one --data-binary @"$TMP/kv1"
expect 200 GET /kv/app/one
expect_body_file "$TMP/kv1"
expect 200 DELETE "/cas/$(sha256 "$TMP/kv1")" "${AS_ADMIN[@]}"
expect 404 GET /kv/app/one
expect 404 HEAD /kv/app/one
# The entry went with its value blob: nothing is left to delete.
expect 404 DELETE /kv/app/one "${AS_ADMIN[@]}"

step "an ActionResult whose output file was purged is a miss"
random_file "$TMP/out.o" 40000
proto_files "$TMP/result" '\x12' out/a.o "$TMP/out.o"
AC1=$(printf 'action one' | sha256sum | cut -d' ' -f1)
put_file "$TMP/out.o"
expect 200 PUT "/ac/$AC1" --data-binary @"$TMP/result"
expect 200 GET "/ac/$AC1"
expect_body_file "$TMP/result"
expect 200 DELETE "/cas/$(sha256 "$TMP/out.o")" "${AS_ADMIN[@]}"
expect 404 GET "/ac/$AC1"
grep -q 'gone' "$BODY" || fail "the 404 does not say the output is gone: $(cat "$BODY")"
ok "says: $(cat "$BODY")"
expect 404 HEAD "/ac/$AC1"
# The output back: a hit again.
put_file "$TMP/out.o"
expect 200 GET "/ac/$AC1"

step "an ActionResult whose output file GC evicted (the result itself was used later) is a miss"
expect 200 POST '/v1/gc?target=1' "${AS_ADMIN[@]}" # empties what is not pinned: a known order
next_tick # (blobs written in the second of a run's last eviction may be skipped: see the end)
random_file "$TMP/out2.o" 300000
proto_files "$TMP/result2" '\x12' out/b.o "$TMP/out2.o"
AC2=$(printf 'action two' | sha256sum | cut -d' ' -f1)
random_file "$TMP/kv2" 300000
put_file "$TMP/out2.o"
expect 200 PUT /kv/app/two --data-binary @"$TMP/kv2"
expect 200 PUT "/ac/$AC2" --data-binary @"$TMP/result2"
# (No GET of the result before the eviction: checking its outputs counts as using them.)
next_tick
expect 200 HEAD "/cas/$(sha256 "$TMP/result2")" # the result is used later than its output
stats
USED=$(json "$TMP/stats.json" "j['disk']['used_bytes']")
# Evicting the two oldest (the output file and the kv value, 600000 bytes) reaches this target.
expect 200 POST "/v1/gc?target=$((USED - 400000))" "${AS_ADMIN[@]}"
expect_json "$BODY" "j['evicted']['cas']['entries'] == 2 and j['evicted']['kv']['entries'] == 1 and j['target_reached']" \
  "GC down to $((USED - 400000)) bytes"
expect 404 GET "/cas/$(sha256 "$TMP/out2.o")"
expect 404 GET /kv/app/two
expect 404 GET "/ac/$AC2"
ok "the kv entry went with its blob; the action result is a miss: $(cat "$BODY")"
expect 200 POST /v1/blobs:findMissing --data-binary \
  "{\"digests\":[{\"hash\":\"$(sha256 "$TMP/out2.o")\",\"size\":300000},{\"hash\":\"$(sha256 "$TMP/result2")\",\"size\":$(stat -c %s "$TMP/result2")}]}"
expect_json "$BODY" "[d['hash'] for d in j['missing']] == ['$(sha256 "$TMP/out2.o")']" \
  "findMissing after the eviction"

# --- (c) POST /v1/gc -------------------------------------------------------------------------

step "POST /v1/gc needs the admin scope"
expect 401 POST /v1/gc
[[ $(header WWW-Authenticate) =~ Bearer|Basic ]] || fail "401 without WWW-Authenticate"
expect 403 POST /v1/gc -H "Authorization: Bearer $WRITER"
expect 403 POST '/v1/gc?dry_run=1' -H "Authorization: Bearer $READER"
expect 400 POST '/v1/gc?target=lots' "${AS_ADMIN[@]}"

step "a known set: a pinned tree, 4 cas blobs, 2 kv and 2 ac entries"
next_tick
random_file "$TMP/keep" 262144
proto_files "$TMP/keepdir" '\x0a' keep "$TMP/keep"
put_file "$TMP/keep"
put_file "$TMP/keepdir"
expect 200 PUT /v1/refs/keep --data-binary "{\"digest\":\"$(digest_of "$TMP/keepdir")\",\"pinned\":true}"
CAS_FILES=()
for i in 1 2 3 4; do
  random_file "$TMP/c$i" 200000
  put_file "$TMP/c$i"
  CAS_FILES+=("$TMP/c$i")
done
for k in a b; do
  random_file "$TMP/kv-$k" 50000
  expect 200 PUT "/kv/gc/$k" --data-binary @"$TMP/kv-$k"
done
for k in 1 2; do
  random_file "$TMP/ac-$k" 10000
  expect 200 PUT "/ac/$(printf 'gc %s' "$k" | sha256sum | cut -d' ' -f1)" --data-binary @"$TMP/ac-$k"
done
stats
cp "$TMP/stats.json" "$TMP/stats.before"
DU_BEFORE=$(du_bytes "$DATA")
# Every blob but the empty one and the two pinned ones can go: the 4 cas blobs, the kv and
# ac values, and the result of action two (whose output went above) with its ac entry.
EVICTABLE=9 KV=2 AC=3
expect_json "$TMP/stats.before" "j['entries'] == {'cas': 3 + $EVICTABLE, 'ac': $AC, 'kv': $KV, 'ref': 1}" \
  "/v1/stats entries of the known set"
RUNS=$(json "$TMP/stats.before" "j['gc']['runs']")
EVICTED_TOTAL=$(json "$TMP/stats.before" "j['gc']['evicted_entries']")
ok "$EVICTABLE evictable blobs, $KV kv and $AC ac entries; $RUNS GC runs so far"

step "a dry run reports what would go and deletes nothing"
expect 200 POST '/v1/gc?dry_run=1&target=1' "${AS_ADMIN[@]}"
expect_header Content-Type '^application/json'
cp "$BODY" "$TMP/dry.json"
expect_json "$TMP/dry.json" "j['dry_run'] is True and j['target_bytes'] == 1 and j['target_reached'] is False" \
  "dry run report"
expect_json "$TMP/dry.json" "j['evicted']['cas']['entries'] == $EVICTABLE and j['evicted']['kv']['entries'] == $KV and j['evicted']['ac']['entries'] == $AC and j['evicted']['ref']['entries'] == 0" \
  "dry run counts (expected $EVICTABLE blobs, $KV kv, $AC ac)"
expect_json "$TMP/dry.json" "abs(j['before_bytes'] - $DU_BEFORE) <= $SLACK and j['after_bytes'] < j['before_bytes'] and sum(e['bytes'] for e in j['evicted'].values()) >= 4 * 200000 and j['duration_seconds'] >= 0 and 'oldest_survivor_age_seconds' in j" \
  "dry run sizes"
ok "would evict $(json "$TMP/dry.json" "j['evicted']")"
stats
expect_json "$TMP/stats.json" "j['entries'] == $(json "$TMP/stats.before" "j['entries']") and j['gc']['runs'] == $RUNS and j['gc']['evicted_entries'] == $EVICTED_TOTAL" \
  "/v1/stats after the dry run"
for f in "${CAS_FILES[@]}"; do
  expect 200 HEAD "/cas/$(sha256 "$f")"
done
expect 200 GET /kv/gc/a
expect_body_file "$TMP/kv-a"
expect 200 GET /kv/gc/b
expect 200 GET "/ac/$(printf 'gc 1' | sha256sum | cut -d' ' -f1)"
expect_body_file "$TMP/ac-1"
[[ $(du_bytes "$DATA") -ge $((DU_BEFORE - 65536)) ]] ||
  fail "du -sb went from $DU_BEFORE to $(du_bytes "$DATA") after a dry run"
ok "everything is still there"

step "the real run evicts what the dry run reported; pinned data stays"
expect 200 POST '/v1/gc?target=1' "${AS_ADMIN[@]}"
cp "$BODY" "$TMP/real.json"
expect_json "$TMP/real.json" "j['dry_run'] is False and j['target_bytes'] == 1 and j['target_reached'] is False" \
  "real run report"
DRY_EVICTED=$(json "$TMP/dry.json" "{n: e['entries'] for n, e in j['evicted'].items()}")
expect_json "$TMP/real.json" "{n: e['entries'] for n, e in j['evicted'].items()} == $DRY_EVICTED" \
  "the real run's counts against the dry run's ($DRY_EVICTED)"
DRY_BYTES=$(json "$TMP/dry.json" "sum(e['bytes'] for e in j['evicted'].values())")
expect_json "$TMP/real.json" "sum(e['bytes'] for e in j['evicted'].values()) == $DRY_BYTES" \
  "the real run's bytes against the dry run's ($DRY_BYTES)"
ok "evicted $(json "$TMP/real.json" "j['evicted']")"
for f in "${CAS_FILES[@]}"; do
  expect 404 GET "/cas/$(sha256 "$f")"
done
expect 404 GET /kv/gc/a
expect 404 GET /kv/gc/b
expect 404 GET "/ac/$(printf 'gc 1' | sha256sum | cut -d' ' -f1)"
expect 200 GET "/cas/$(sha256 "$TMP/keep")"
expect_body_file "$TMP/keep"
expect 200 GET /v1/refs/keep
stats
expect_json "$TMP/stats.json" "j['entries']['cas'] == 3 and j['entries']['kv'] == 0 and j['entries']['ac'] == 0 and j['entries']['ref'] == 1" \
  "/v1/stats entries after GC"
REAL_BYTES=$(json "$TMP/real.json" "sum(e['bytes'] for e in j['evicted'].values())")
expect_json "$TMP/stats.json" "j['gc']['runs'] == $RUNS + 1 and j['gc']['evicted_entries'] == $EVICTED_TOTAL + $EVICTABLE" \
  "/v1/stats gc counters after one more run"
DU_AFTER=$(du_bytes "$DATA")
[[ $((DU_BEFORE - DU_AFTER)) -ge $((4 * 200000)) ]] ||
  fail "du -sb went from $DU_BEFORE to only $DU_AFTER after evicting $REAL_BYTES bytes"
ok "du -sb went from $DU_BEFORE to $DU_AFTER"

step "GC to a target it can reach stops there"
next_tick
for i in 1 2 3 4 5 6; do
  random_file "$TMP/r$i" 500000
  put_file "$TMP/r$i"
done
stats
USED=$(json "$TMP/stats.json" "j['disk']['used_bytes']")
TARGET=$((USED - 700000))
expect 200 POST "/v1/gc?target=$TARGET" "${AS_ADMIN[@]}"
cp "$BODY" "$TMP/partial.json"
expect_json "$TMP/partial.json" "j['target_reached'] is True and j['after_bytes'] <= $TARGET and 2 <= j['evicted']['cas']['entries'] < 6" \
  "GC from $USED down to $TARGET"
LEFT=0
for i in 1 2 3 4 5 6; do
  req HEAD "/cas/$(sha256 "$TMP/r$i")"
  [[ $STATUS == 200 ]] && LEFT=$((LEFT + 1))
done
expect_json "$TMP/partial.json" "j['evicted']['cas']['entries'] == 6 - $LEFT" "blobs left ($LEFT of 6)"
ok "evicted $(json "$TMP/partial.json" "j['evicted']['cas']['entries']") of 6, reached $(json "$TMP/partial.json" "j['after_bytes']") <= $TARGET"

# --- (d) admin purge -------------------------------------------------------------------------

step "DELETE /cas/ purges a blob, with an admin token only"
random_file "$TMP/poison" 100000
POISON=$(sha256 "$TMP/poison")
put_file "$TMP/poison"
expect 401 DELETE "/cas/$POISON"
expect 403 DELETE "/cas/$POISON" -H "Authorization: Bearer $WRITER"
expect 200 HEAD "/cas/$POISON"
expect 200 DELETE "/cas/$POISON" "${AS_ADMIN[@]}"
expect 404 GET "/cas/$POISON"
expect 404 HEAD "/cas/$POISON"
expect 404 DELETE "/cas/$POISON" "${AS_ADMIN[@]}"
expect 200 POST /v1/blobs:findMissing --data-binary "{\"digests\":[{\"hash\":\"$POISON\",\"size\":100000}]}"
expect_json "$BODY" "[d['hash'] for d in j['missing']] == ['$POISON']" "findMissing after the purge"
expect 400 DELETE "/cas/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "${AS_ADMIN[@]}"

step "DELETE of kv and ac keys needs admin"
expect 200 PUT /kv/purge/me --data-binary 'some value'
AC3=$(printf 'action three' | sha256sum | cut -d' ' -f1)
expect 200 PUT "/ac/$AC3" --data-binary 'an ac value'
expect 401 DELETE /kv/purge/me
expect 403 DELETE "/ac/$AC3" -H "Authorization: Bearer $WRITER"
expect 200 DELETE /kv/purge/me "${AS_ADMIN[@]}"
expect 200 DELETE "/ac/$AC3" "${AS_ADMIN[@]}"
expect 404 GET /kv/purge/me
expect 404 GET "/ac/$AC3"

step "purging a file of a pinned tree makes its ref and tree a miss"
KEEPDIR=$(digest_of "$TMP/keepdir")
expect 200 GET "/v1/trees/$KEEPDIR"
expect 200 DELETE "/cas/$(sha256 "$TMP/keep")" "${AS_ADMIN[@]}"
expect 404 GET /v1/refs/keep
grep -q 'incomplete' "$BODY" || fail "the ref's 404 does not say the tree is incomplete: $(cat "$BODY")"
ok "says: $(cat "$BODY")"
expect 404 GET "/v1/trees/$KEEPDIR"
stats
expect_json "$TMP/stats.json" "j['disk']['pinned_bytes'] < 262144" "pinned_bytes after the pinned file was purged"
put_file "$TMP/keep"
expect 200 GET /v1/refs/keep
expect 200 GET "/v1/trees/$KEEPDIR"
ok "uploading the file again completes the ref"
# Pinned again by unpinning and pinning the tree (whether the upload alone pins it again is
# checked last).
expect 200 DELETE /v1/refs/keep
expect 200 PUT /v1/refs/keep --data-binary "{\"digest\":\"$KEEPDIR\",\"pinned\":true}"

# --- (e) metrics and stats -------------------------------------------------------------------

step "/metrics and /v1/stats show the bound, pins and GC"
expect 200 GET /metrics
cp "$BODY" "$TMP/metrics"
for family in ingot_disk_bytes ingot_max_size_bytes ingot_reserved_bytes ingot_pinned_bytes \
  ingot_oldest_entry_age_seconds; do
  grep -q "^# TYPE $family gauge$" "$TMP/metrics" || fail "/metrics: $family is not a gauge"
done
for family in ingot_gc_runs_total ingot_gc_duration_seconds_total ingot_gc_evicted_entries_total \
  ingot_gc_evicted_bytes_total; do
  grep -q "^# TYPE $family counter$" "$TMP/metrics" || fail "/metrics: $family is not a counter"
done
ok "every GC and space family has its TYPE"
stats
DU=$(du_bytes "$DATA")
m() { awk -v key="$1" '$1 == key { print $2; found = 1 } END { if (!found) print "absent" }' "$TMP/metrics"; }
[[ $(m ingot_max_size_bytes) == "$BOUND" ]] || fail "ingot_max_size_bytes is $(m ingot_max_size_bytes), not $BOUND"
DISK=$(m ingot_disk_bytes)
[[ $DISK -le $((BOUND + SLACK)) && $((DISK - DU)) -le $SLACK && $((DU - DISK)) -le $SLACK ]] ||
  fail "ingot_disk_bytes is $DISK; du -sb says $DU (bound $BOUND)"
ok "ingot_disk_bytes $DISK, du -sb $DU"
[[ $(m ingot_reserved_bytes) == 0 ]] || fail "ingot_reserved_bytes is $(m ingot_reserved_bytes) with no upload in flight"
PINNED=$(m ingot_pinned_bytes)
[[ $PINNED -ge 262144 && $PINNED -le $((262144 + 4096)) ]] ||
  fail "ingot_pinned_bytes is $PINNED; the pinned tree is one 262144-byte file and its directory"
ok "ingot_pinned_bytes $PINNED"
for pair in "ingot_gc_runs_total:j['gc']['runs']" \
  "ingot_gc_evicted_entries_total:j['gc']['evicted_entries']" \
  "ingot_gc_evicted_bytes_total:j['gc']['evicted_bytes']" \
  "ingot_pinned_bytes:j['disk']['pinned_bytes']" "ingot_max_size_bytes:j['disk']['max_size_bytes']"; do
  [[ $(m "${pair%%:*}") == "$(json "$TMP/stats.json" "${pair#*:}")" ]] ||
    fail "${pair%%:*} is $(m "${pair%%:*}"), /v1/stats ${pair#*:} is $(json "$TMP/stats.json" "${pair#*:}")"
done
ok "/metrics and /v1/stats agree"
# Four runs by POST so far: the one that emptied the cache, then out2.o and kv2, the known
# set, and some of r1..r6.
RUNS_NOW=$(m ingot_gc_runs_total)
[[ $RUNS_NOW -ge 4 ]] || fail "ingot_gc_runs_total is $RUNS_NOW after 4 POST /v1/gc runs"
EVICTED_MIN=$((2 + EVICTABLE + $(json "$TMP/partial.json" "j['evicted']['cas']['entries']")))
[[ $(m ingot_gc_evicted_entries_total) -ge $EVICTED_MIN ]] ||
  fail "ingot_gc_evicted_entries_total is $(m ingot_gc_evicted_entries_total), at least $EVICTED_MIN were evicted"
[[ $(m ingot_gc_evicted_bytes_total) -ge $((300000 + 300000 + 4 * 200000 + 2 * 500000)) ]] ||
  fail "ingot_gc_evicted_bytes_total is $(m ingot_gc_evicted_bytes_total)"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)" "$(m ingot_gc_duration_seconds_total)" ||
  fail "ingot_gc_duration_seconds_total is $(m ingot_gc_duration_seconds_total)"
AGE=$(m ingot_oldest_entry_age_seconds)
[[ $AGE -ge 0 && $AGE -le $((SECONDS + 5)) ]] ||
  fail "ingot_oldest_entry_age_seconds is $AGE; nothing is older than this test ($SECONDS s)"
ok "runs $RUNS_NOW, evicted $(m ingot_gc_evicted_entries_total) entries / $(m ingot_gc_evicted_bytes_total) bytes, oldest entry ${AGE}s"
expect_json "$TMP/stats.json" "j['gc']['last']['dry_run'] is False and j['gc']['last']['target_bytes'] == $TARGET and j['gc']['last']['evicted'] == $(json "$TMP/partial.json" "j['evicted']")" \
  "/v1/stats gc.last is the last POST /v1/gc's report"
expect_json "$TMP/stats.json" "j['disk']['gc_high_bytes'] == int($BOUND * 0.9) and j['disk']['gc_low_bytes'] == int($BOUND * 0.8) and j['disk']['used_bytes'] >= j['disk']['files_bytes'] + j['disk']['index_bytes']" \
  "/v1/stats disk watermarks"
expect 200 GET /v1/gc
expect_json "$BODY" "'disk' in j and 'gc' in j" "GET /v1/gc (the stats)"

# --- (f) the CLI with the server stopped -----------------------------------------------------

step "ingot gc and ingot stats are refused while the server runs, naming it"
for cmd in gc stats; do
  RC=0
  "$INGOT" "$cmd" --data "$DATA" >"$TMP/out" 2>"$TMP/err" || RC=$?
  [[ $RC -eq 1 ]] || fail "ingot $cmd while a server runs exited $RC, expected 1: $(cat "$TMP/out" "$TMP/err")"
  grep -q "in use by pid $SERVER_PID" "$TMP/err" || fail "ingot $cmd while a server runs said: $(cat "$TMP/err")"
  ok "ingot $cmd: $(cat "$TMP/err")"
done
stop_server
# Unpinned blobs left: the r* that GC left, and the values of the two deleted keys (deleting a
# key leaves its blob to GC).
UNPINNED=$((LEFT + 2))

step "ingot stats with the server stopped"
"$INGOT" stats --data "$DATA" >"$TMP/out" 2>"$TMP/err" || fail "ingot stats exited $?: $(cat "$TMP/err")"
cat "$TMP/out"
grep -Eq '^on disk +.* of 8(\.0)?MiB \(--max-size\)$' "$TMP/out" || fail "ingot stats does not show the limit"
grep -Eq "^entries +$((3 + UNPINNED)) blobs, 0 ac, 0 kv, 1 refs\$" "$TMP/out" || fail "ingot stats: wrong entries"
grep -Eq '^hit rate +[0-9.]+% of [1-9][0-9]* lookups$' "$TMP/out" || fail "ingot stats: no hit rate"
grep -Eq '^last gc +[0-9]{4}-[0-9]{2}-[0-9]{2} .*: evicted [0-9]+ blobs' "$TMP/out" || fail "ingot stats: no last gc"
ok "usage, limit, entries, hit rate and last gc"
"$INGOT" stats --data "$DATA" --json >"$TMP/stats-cli.json" || fail "ingot stats --json exited $?"
DU=$(du_bytes "$DATA")
expect_json "$TMP/stats-cli.json" "j['max_size_bytes'] == $BOUND and abs(j['disk_bytes'] - $DU) <= $SLACK and j['entries'] == {'cas': 3 + $UNPINNED, 'ac': 0, 'kv': 0, 'ref': 1} and j['lookups']['hits'] > 0 and 0 < j['lookups']['hit_rate'] < 1" \
  "ingot stats --json (du -sb $DU)"
expect_json "$TMP/stats-cli.json" "j['last_gc']['dry_run'] is False and j['last_gc']['evicted'] == $(json "$TMP/partial.json" "j['evicted']") and j['pinned_bytes'] == $PINNED" \
  "ingot stats --json: the last GC and pins, as the server reported them"
ok "ingot stats --json agrees with the server and du"

step "ingot gc with the server stopped"
# Something to evict: blobs written through the CLI's own `ingot put`.
for i in 1 2 3; do
  random_file "$TMP/p$i" 400000
done
"$INGOT" put --data "$DATA" "$TMP/p1" "$TMP/p2" "$TMP/p3" >/dev/null || fail "ingot put exited $?"
RC=0
"$INGOT" gc --data "$DATA" --target lots >"$TMP/out" 2>"$TMP/err" || RC=$?
[[ $RC -eq 2 ]] || fail "ingot gc --target lots exited $RC, expected 2 (usage)"
grep -q 'lots' "$TMP/err" || fail "ingot gc --target lots said: $(cat "$TMP/err")"
ok "--target lots: exit 2, $(cat "$TMP/err")"
"$INGOT" gc --data "$DATA" --dry-run --target 1 --json >"$TMP/cli-dry.json" || fail "ingot gc --dry-run exited $?"
expect_json "$TMP/cli-dry.json" "j['dry_run'] is True and j['evicted']['cas']['entries'] == 3 + $UNPINNED and j['target_bytes'] == 1" \
  "ingot gc --dry-run --json (the 3 put blobs and the $UNPINNED left over)"
"$INGOT" stats --data "$DATA" --json >"$TMP/stats-cli.json" || fail "ingot stats exited $?"
expect_json "$TMP/stats-cli.json" "j['entries']['cas'] == 6 + $UNPINNED" "entries after ingot gc --dry-run"
ok "the dry run evicted nothing"
# Without --target: the low watermark of the --max-size the data dir was served with.
"$INGOT" gc --data "$DATA" >"$TMP/out" 2>"$TMP/err" || fail "ingot gc exited $?: $(cat "$TMP/err")"
cat "$TMP/out"
grep -Eq '^gc \(target 6\.4MiB, from ' "$TMP/out" || fail "ingot gc did not aim at 80% of 8MiB"
"$INGOT" gc --data "$DATA" --target 1 >"$TMP/out" 2>"$TMP/err" || fail "ingot gc --target 1 exited $?: $(cat "$TMP/err")"
cat "$TMP/out"
grep -Eq '^gc \(target 1B?, from .* to .*\): target NOT reached$' "$TMP/out" || fail "ingot gc --target 1: first line"
grep -Eq "^  cas +evicted $((3 + UNPINNED)) entries, " "$TMP/out" ||
  fail "ingot gc --target 1 did not evict the $((3 + UNPINNED)) unpinned blobs"
grep -Eq '^  oldest survivor last used .* ago; took [0-9.]+ s$' "$TMP/out" || fail "ingot gc: no last line"
"$INGOT" stats --data "$DATA" --json >"$TMP/stats-cli.json" || fail "ingot stats exited $?"
expect_json "$TMP/stats-cli.json" "j['entries']['cas'] == 3 and j['last_gc']['target_bytes'] == 1" "after ingot gc --target 1"
RC=0
"$INGOT" get --data "$DATA" "$(sha256 "$TMP/p1")" >/dev/null 2>&1 || RC=$?
[[ $RC -eq 3 ]] || fail "ingot get of an evicted blob exited $RC, expected 3"
"$INGOT" get --data "$DATA" "$(sha256 "$TMP/keep")" >"$TMP/keep.got" || fail "ingot get of the pinned file exited $?"
cmp -s "$TMP/keep" "$TMP/keep.got" || fail "the pinned file reads back different"
ok "evicted the unpinned blobs, kept the pinned one"

# --- (g) restart with a lower bound ----------------------------------------------------------

step "a data dir filled under --max-size 32MiB"
DATA2="$TMP/data2"
start_server "$DATA2" --max-size 32MiB --anonymous write
random_file "$TMP/hold" 262144
proto_files "$TMP/holddir" '\x0a' hold "$TMP/hold"
put_file "$TMP/hold"
put_file "$TMP/holddir"
expect 200 PUT /v1/refs/hold --data-binary "{\"digest\":\"$(digest_of "$TMP/holddir")\",\"pinned\":true}"
for i in $(seq 1 11); do
  random_file "$TMP/fill" $((2 * MIB))
  put_file "$TMP/fill"
done
cp "$TMP/fill" "$TMP/last-fill"
FULL=$(du_bytes "$DATA2")
[[ $FULL -ge $((22 * MIB)) ]] || fail "du -sb is only $FULL after writing 22 MiB"
expect_under_bound "$DATA2" $((32 * MIB))
stop_server

step "restart with --max-size 8MiB: serves at once, GC catches up in the background"
START_MS=$(($(date +%s%N) / 1000000))
start_server "$DATA2" --max-size 8MiB --anonymous write
FIRST_LINE_MS=$(($(date +%s%N) / 1000000 - START_MS))
expect 200 GET "/cas/$(sha256 "$TMP/hold")"
expect_body_file "$TMP/hold"
SERVED_MS=$(($(date +%s%N) / 1000000 - START_MS))
ok "first line after $FIRST_LINE_MS ms, a stored blob served after $SERVED_MS ms (du -sb was $FULL)"
[[ $SERVED_MS -le 5000 ]] || fail "the first GET was answered only $SERVED_MS ms after start"
req GET "/cas/$(sha256 "$TMP/last-fill")"
[[ $STATUS == 200 || $STATUS == 404 ]] || fail "GET of a blob being evicted: $STATUS"
DEADLINE=$((SECONDS + 30))
while :; do
  USED=$(du_bytes "$DATA2")
  [[ $USED -le $((BOUND + SLACK)) || $SECONDS -ge $DEADLINE ]] && break
  sleep 0.1
done
UNDER_MS=$(($(date +%s%N) / 1000000 - START_MS))
[[ $USED -le $((BOUND + SLACK)) ]] || fail "du -sb is still $USED bytes 30 s after a restart with --max-size 8MiB"
ok "du -sb went from $FULL to $USED bytes within $UNDER_MS ms of the start"
expect 200 GET /metrics
[[ $(metric ingot_gc_runs_total) -ge 1 ]] || fail "ingot_gc_runs_total is $(metric ingot_gc_runs_total) after catching up"
[[ $(metric ingot_max_size_bytes) == "$BOUND" ]] || fail "ingot_max_size_bytes is $(metric ingot_max_size_bytes)"
expect 200 GET /v1/refs/hold
random_file "$TMP/after" $MIB
put_file "$TMP/after"
expect 200 GET "/cas/$(sha256 "$TMP/after")"
expect_under_bound "$DATA2" $BOUND
stop_server

# --- checks that found server bugs -----------------------------------------------------------

DATA3="$TMP/data3"
start_server "$DATA3" --max-size 8MiB --anonymous write
ADMIN=$(token_create "$DATA3" admin admin)
AS_ADMIN=(-H "Authorization: Bearer $ADMIN")

step "blobs written in the second a GC run ends are evicted by the next run"
# A GC run remembers where in the eviction order (second of last use, then hash) it stopped
# and starts the next run there: a blob written later in that same second with a smaller
# hash must not be skipped. All within one second (a slow machine passes by mistake, never
# fails by mistake).
now=$(date +%s)
while [[ $(date +%s) == "$now" ]]; do sleep 0.01; done
for i in $(seq 1 16); do
  random_file "$TMP/s$i" 1000
done
for i in $(seq 1 8); do put_file "$TMP/s$i" >/dev/null; done
expect 200 POST '/v1/gc?target=1' "${AS_ADMIN[@]}"
for i in $(seq 9 16); do put_file "$TMP/s$i" >/dev/null; done
next_tick
expect 200 POST '/v1/gc?target=1' "${AS_ADMIN[@]}"
stats
expect_json "$TMP/stats.json" "j['entries']['cas'] == 1" \
  "$(($(json "$TMP/stats.json" "j['entries']['cas']") - 1)) of the 8 blobs written after the first POST /v1/gc?target=1 are still there after a second one (nothing is pinned)"

step "blobs evicted to make room for a write count in the GC metrics"
# 5.5 MiB: under the high watermark (7.2 MiB), so no background GC; then a write that does
# not fit evicts for itself.
FILLS=()
for i in 1 2 3 4 5; do
  random_file "$TMP/w$i" $((11 * MIB / 10))
  put_file "$TMP/w$i"
  FILLS+=("$TMP/w$i")
done
expect 200 GET /metrics
RUNS0=$(metric ingot_gc_runs_total) EVICTED0=$(metric ingot_gc_evicted_entries_total)
EVICTED_BYTES0=$(metric ingot_gc_evicted_bytes_total)
random_file "$TMP/w6" $((3 * MIB / 2))
put_file "$TMP/w6"
GONE=0 GONE_BYTES=0
for f in "${FILLS[@]}"; do
  req HEAD "/cas/$(sha256 "$f")"
  if [[ $STATUS == 404 ]]; then
    GONE=$((GONE + 1)) GONE_BYTES=$((GONE_BYTES + $(stat -c %s "$f")))
  fi
done
[[ $GONE -ge 1 ]] || fail "writing 1.5 MiB more into a full 8 MiB evicted nothing"
DEADLINE=$((SECONDS + 5))
while :; do
  expect 200 GET /metrics >/dev/null
  COUNTED=$(($(metric ingot_gc_evicted_entries_total) - EVICTED0))
  [[ $COUNTED -ge $GONE || $SECONDS -ge $DEADLINE ]] && break
  sleep 0.1
done
[[ $COUNTED -ge $GONE ]] ||
  fail "$GONE blobs ($GONE_BYTES bytes) were evicted to make room for a write, but ingot_gc_evicted_entries_total went up by $COUNTED (bytes by $(($(metric ingot_gc_evicted_bytes_total) - EVICTED_BYTES0)), runs by $(($(metric ingot_gc_runs_total) - RUNS0)))"
ok "$GONE evicted, counted $COUNTED"

step "a file of a pinned tree, purged and uploaded again, is pinned again"
next_tick
random_file "$TMP/z" 262144
proto_files "$TMP/zdir" '\x0a' z "$TMP/z"
put_file "$TMP/z"
put_file "$TMP/zdir"
expect 200 PUT /v1/refs/z --data-binary "{\"digest\":\"$(digest_of "$TMP/zdir")\",\"pinned\":true}"
expect 200 DELETE "/cas/$(sha256 "$TMP/z")" "${AS_ADMIN[@]}"
expect 404 GET /v1/refs/z
put_file "$TMP/z"
expect 200 GET /v1/refs/z
expect_json "$BODY" "j['pinned'] is True" "GET /v1/refs/z after the file came back"
expect 200 POST '/v1/gc?target=1' "${AS_ADMIN[@]}"
expect 200 GET "/cas/$(sha256 "$TMP/z")"
expect 200 GET /v1/refs/z
stats
expect_json "$TMP/stats.json" "j['disk']['pinned_bytes'] >= 262144" "pinned_bytes with the file back"

step "purging a kv value's blob drops the kv entry from the counts"
stats
KV_BEFORE=$(json "$TMP/stats.json" "j['entries']['kv']")
random_file "$TMP/dangling" 65536
expect 200 PUT /kv/dangling --data-binary @"$TMP/dangling"
expect 200 DELETE "/cas/$(sha256 "$TMP/dangling")" "${AS_ADMIN[@]}"
expect 404 GET /kv/dangling
stats
expect_json "$TMP/stats.json" "j['entries']['kv'] == $KV_BEFORE" \
  "entries.kv after the only blob of /kv/dangling was purged (was $KV_BEFORE before it was written)"
stop_server
