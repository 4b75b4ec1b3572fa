#!/usr/bin/env bash
# Garbage collection, seen from curl and the CLI, on one data dir whose history each step
# reads: ac and kv entries whose blobs are gone are misses; POST /v1/gc needs admin, a dry run
# deletes nothing and reports what the real run then evicts; an admin DELETE /cas/ purges a
# blob (and breaks the ref that named it); /metrics and /v1/stats show the bound, pins and GC
# runs; `ingot stats` and `ingot gc` with the server stopped (refused while it runs). `du -sb`
# of the data dir is checked against the bound (plus the 1/32 slack README "Disk bound"
# allows). The bound itself is gc_bound.sh; the checks that found server bugs are
# gc_regressions.sh.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/gc_lib.sh"

DATA="$TMP/data"
start_server "$DATA" --max-size 8MiB --anonymous write
ADMIN=$(token_create "$DATA" admin admin)
WRITER=$(token_create "$DATA" read,write writer)
READER=$(token_create "$DATA" read reader)
[[ -n $ADMIN && -n $WRITER && -n $READER ]] || fail "ingot token create printed no token"
AS_ADMIN=(-H "Authorization: Bearer $ADMIN")

# --- (a) completeness ------------------------------------------------------------------------

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
# (Blobs written in the second of a run's last eviction may be skipped: gc_regressions.sh.)
next_tick
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

# --- (b) POST /v1/gc -------------------------------------------------------------------------

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
expect_json "$TMP/stats.before" "j['entries'] == {'cas': 3 + $EVICTABLE, 'ac': $AC, 'kv': $KV, 'ref': 1, 'nix': 0}" \
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
expect_json "$TMP/dry.json" "j['evicted']['cas']['entries'] == $EVICTABLE and j['evicted']['kv']['entries'] == $KV and j['evicted']['ac']['entries'] == $AC and j['evicted']['ref']['entries'] == 0 and j['evicted']['nix']['entries'] == 0" \
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

# --- (c) admin purge -------------------------------------------------------------------------

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
# checked in gc_regressions.sh).
expect 200 DELETE /v1/refs/keep
expect 200 PUT /v1/refs/keep --data-binary "{\"digest\":\"$KEEPDIR\",\"pinned\":true}"

# --- (d) metrics and stats -------------------------------------------------------------------

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
expect_json "$BODY" "isinstance(j['running'], bool) and j['last']['target_bytes'] == $TARGET and j['gc_high_bytes'] == int($BOUND * 0.9) and j['gc_low_bytes'] == int($BOUND * 0.8) and j['max_size_bytes'] == $BOUND and 'lookups' not in j and 'disk' not in j" \
  "GET /v1/gc: the GC part of /v1/stats alone"

# --- (e) the CLI with the server stopped -----------------------------------------------------

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
grep -Eq "^entries +$((3 + UNPINNED)) blobs, 0 ac, 0 kv, 1 refs, 0 nix\$" "$TMP/out" || fail "ingot stats: wrong entries"
grep -Eq '^hit rate +[0-9.]+% of [1-9][0-9]* lookups$' "$TMP/out" || fail "ingot stats: no hit rate"
grep -Eq '^last gc +[0-9]{4}-[0-9]{2}-[0-9]{2} .*: evicted [0-9]+ blobs' "$TMP/out" || fail "ingot stats: no last gc"
ok "usage, limit, entries, hit rate and last gc"
"$INGOT" stats --data "$DATA" --json >"$TMP/stats-cli.json" || fail "ingot stats --json exited $?"
DU=$(du_bytes "$DATA")
expect_json "$TMP/stats-cli.json" "j['max_size_bytes'] == $BOUND and abs(j['disk_bytes'] - $DU) <= $SLACK and j['entries'] == {'cas': 3 + $UNPINNED, 'ac': 0, 'kv': 0, 'ref': 1, 'nix': 0} and j['lookups']['hits'] > 0 and 0 < j['lookups']['hit_rate'] < 1" \
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
# Everything unpinned went: no survivor to give the age of.
grep -Eq '^  no survivor: nothing evictable is left; took [0-9.]+ s$' "$TMP/out" || fail "ingot gc: no last line"
"$INGOT" stats --data "$DATA" --json >"$TMP/stats-cli.json" || fail "ingot stats exited $?"
expect_json "$TMP/stats-cli.json" "j['entries']['cas'] == 3 and j['last_gc']['target_bytes'] == 1" "after ingot gc --target 1"
RC=0
"$INGOT" get --data "$DATA" "$(sha256 "$TMP/p1")" >/dev/null 2>&1 || RC=$?
[[ $RC -eq 3 ]] || fail "ingot get of an evicted blob exited $RC, expected 3"
"$INGOT" get --data "$DATA" "$(sha256 "$TMP/keep")" >"$TMP/keep.got" || fail "ingot get of the pinned file exited $?"
cmp -s "$TMP/keep" "$TMP/keep.got" || fail "the pinned file reads back different"
ok "evicted the unpinned blobs, kept the pinned one"
