#!/usr/bin/env bash
# GC checks that found server bugs (apart from gc.sh, so that everything there runs whatever
# they find): blobs written in the second a GC run ends are evicted by later runs; evictions a
# write makes for itself are counted in the GC metrics; a purged file of a pinned tree is
# pinned again when it comes back; purging a kv value drops its entry from the counts.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/gc_lib.sh"

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
