#!/usr/bin/env bash
# The disk bound, seen from curl: a pinned tree that fills --max-size makes new writes 507 (one
# line naming the pinned size and the limit) while reads go on, and unpinning makes room; a
# restart with a lower --max-size serves at once and background GC brings `du -sb` under the
# bound soon after. `du -sb` of the data dir is checked against the bound (plus the 1/32 slack
# README "Disk bound" allows) throughout.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/gc_lib.sh"

DATA="$TMP/data"
start_server "$DATA" --max-size 8MiB --anonymous write

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

stop_server

# --- (b) restart with a lower bound ----------------------------------------------------------

step "a data dir filled under --max-size 32MiB"
DATA2="$TMP/data2"
start_server "$DATA2" --max-size 32MiB --anonymous write
random_file "$TMP/hold" 262144
proto_files "$TMP/holddir" '\x0a' hold "$TMP/hold"
put_file "$TMP/hold"
put_file "$TMP/holddir"
expect 200 PUT /v1/refs/hold --data-binary "{\"digest\":\"$(digest_of "$TMP/holddir")\",\"pinned\":true}"
for _ in $(seq 1 11); do
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
