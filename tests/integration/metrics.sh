#!/usr/bin/env bash
# /metrics and /v1/stats move with the requests made: request counters by route, method and
# status; cache lookups by namespace and result; stored bytes and entries. /metrics is valid
# Prometheus text; /v1/stats is valid JSON.
source "$(dirname "$0")/lib.sh"

DATA="$TMP/data"
start_server "$DATA" --anonymous write

# scrape: GET /metrics into $TMP/metrics.N, and check the text format line by line.
SCRAPES=0
scrape() {
  expect 200 GET /metrics
  expect_header Content-Type '^text/plain'
  SCRAPES=$((SCRAPES + 1))
  cp "$BODY" "$TMP/metrics.$SCRAPES"
  local bad
  bad=$(grep -Ev '^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? -?[0-9.e+-]+|[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}]*\} \+Inf)$' \
    "$BODY" | head -n 3 || true)
  [[ -z $bad ]] || fail "/metrics has lines that are not Prometheus text format: $bad"
}

# value N SAMPLE: the value of SAMPLE (name{labels}) in scrape N, 0 when absent.
value() {
  awk -v key="$2" 'index($0, key " ") == 1 { print $2; found = 1; exit } END { if (!found) print 0 }' \
    "$TMP/metrics.$1"
}

# expect_delta SAMPLE DELTA: SAMPLE went up by exactly DELTA between the last two scrapes.
expect_delta() {
  local before after
  before=$(value $((SCRAPES - 1)) "$1")
  after=$(value "$SCRAPES" "$1")
  [[ $((after - before)) -eq $2 ]] || fail "$1 went from $before to $after, expected +$2"
  ok "$1 +$2 (now $after)"
}

step "a first scrape"
scrape
for family in ingot_http_requests_total ingot_cache_lookups_total ingot_stored_bytes; do
  grep -q "^# TYPE $family " "$TMP/metrics.1" || fail "/metrics has no # TYPE for $family"
done
grep -q '^# TYPE ingot_http_requests_total counter$' "$TMP/metrics.1" || fail "requests_total is not a counter"
grep -q '^# TYPE ingot_stored_bytes gauge$' "$TMP/metrics.1" || fail "stored_bytes is not a gauge"
STORED_BEFORE=$(value 1 ingot_stored_bytes)

step "requests of every kind"
random_file "$TMP/blob" 200000 # incompressible: stored bytes grow by about its size
BLOB=$(sha256 "$TMP/blob")
MISSING=$(printf 'missing' | sha256sum | cut -d' ' -f1)
expect 404 GET "/cas/$BLOB"
expect 404 GET "/cas/$MISSING"
expect 404 HEAD "/cas/$MISSING"
expect 200 PUT "/cas/$BLOB" --data-binary @"$TMP/blob"
expect 200 GET "/cas/$BLOB"
expect 200 GET "/cas/$BLOB"
expect 206 GET "/cas/$BLOB" -H 'Range: bytes=0-9'
expect 400 PUT "/cas/$MISSING" --data-binary @"$TMP/blob"
expect 405 POST "/cas/$BLOB"
expect 200 PUT /kv/ccache/aa/bb --data-binary 'kv value'
expect 200 GET /kv/ccache/aa/bb
expect 404 GET /kv/ccache/aa/cc
expect 404 GET /kv/ccache/aa/dd
AC_KEY=$(printf 'action' | sha256sum | cut -d' ' -f1)
expect 404 GET "/ac/$AC_KEY"
expect 200 PUT "/ac/$AC_KEY" --data-binary 'ac value'
expect 200 GET "/ac/$AC_KEY"
expect 404 GET /no/such/route
expect 200 GET /healthz

step "the counters moved by exactly what was done"
scrape
expect_delta 'ingot_http_requests_total{route="cas",method="GET",status="404"}' 2
expect_delta 'ingot_http_requests_total{route="cas",method="HEAD",status="404"}' 1
expect_delta 'ingot_http_requests_total{route="cas",method="PUT",status="200"}' 1
expect_delta 'ingot_http_requests_total{route="cas",method="GET",status="200"}' 2
expect_delta 'ingot_http_requests_total{route="cas",method="GET",status="206"}' 1
expect_delta 'ingot_http_requests_total{route="cas",method="PUT",status="400"}' 1
expect_delta 'ingot_http_requests_total{route="cas",method="POST",status="405"}' 1
expect_delta 'ingot_http_requests_total{route="kv",method="PUT",status="200"}' 1
expect_delta 'ingot_http_requests_total{route="kv",method="GET",status="200"}' 1
expect_delta 'ingot_http_requests_total{route="kv",method="GET",status="404"}' 2
expect_delta 'ingot_http_requests_total{route="ac",method="GET",status="404"}' 1
expect_delta 'ingot_http_requests_total{route="ac",method="PUT",status="200"}' 1
expect_delta 'ingot_http_requests_total{route="ac",method="GET",status="200"}' 1
expect_delta 'ingot_http_requests_total{route="healthz",method="GET",status="200"}' 1
expect_delta 'ingot_http_requests_total{route="metrics",method="GET",status="200"}' 1
# cas reads: two GETs and a Range found the blob; two GETs and a HEAD did not.
expect_delta 'ingot_cache_lookups_total{namespace="cas",result="hit"}' 3
expect_delta 'ingot_cache_lookups_total{namespace="cas",result="miss"}' 3
expect_delta 'ingot_cache_lookups_total{namespace="kv",result="hit"}' 1
expect_delta 'ingot_cache_lookups_total{namespace="kv",result="miss"}' 2
expect_delta 'ingot_cache_lookups_total{namespace="ac",result="hit"}' 1
expect_delta 'ingot_cache_lookups_total{namespace="ac",result="miss"}' 1
grep -q '^ingot_http_requests_total{route="none",method="GET",status="404"} [1-9]' "$TMP/metrics.2" ||
  fail "an unknown route is not counted as route=\"none\""
ok "an unknown route is counted as route=\"none\""
STORED_AFTER=$(value 2 ingot_stored_bytes)
[[ $((STORED_AFTER - STORED_BEFORE)) -ge 200000 ]] ||
  fail "ingot_stored_bytes went from $STORED_BEFORE to $STORED_AFTER after storing 200000 random bytes"
ok "ingot_stored_bytes grew by $((STORED_AFTER - STORED_BEFORE))"
grep -q '^ingot_http_request_duration_seconds_bucket{route="cas",le="+Inf"} ' "$TMP/metrics.2" ||
  fail "no latency histogram for cas"
grep -q '^ingot_entries{namespace="kv"} 1$' "$TMP/metrics.2" || fail "ingot_entries for kv is not 1"
grep -q '^ingot_entries{namespace="ac"} 1$' "$TMP/metrics.2" || fail "ingot_entries for ac is not 1"
grep -q '^ingot_entries{namespace="nix"} 0$' "$TMP/metrics.2" || fail "ingot_entries for nix is not 0"
ok "entries by namespace"

step "/v1/stats is JSON and shows the entries"
expect 200 GET /v1/stats
expect_header Content-Type '^application/json'
if command -v python3 >/dev/null; then
  python3 - "$BODY" <<'EOF' || fail "/v1/stats: $(cat "$BODY")"
import json, sys
s = json.load(open(sys.argv[1]))
def check(cond, what):
    if not cond:
        sys.exit(f"/v1/stats: {what}; got {json.dumps(s)}")
check(s["entries"]["kv"] == 1, "entries.kv should be 1")
check(s["entries"]["ac"] == 1, "entries.ac should be 1")
check(s["entries"]["nix"] == 0, "entries.nix should be 0")
# The empty blob (always present), the 200000-byte blob, the kv and ac values.
check(s["entries"]["cas"] == 4, "entries.cas should be 4")
check(s["logical_bytes"] == 200000 + len("kv value") + len("ac value"), "logical_bytes")
check(s["stored_bytes"] >= 200000, "stored_bytes should count the random blob")
check(s["lookups"]["cas"]["hits"] == 3 and s["lookups"]["cas"]["misses"] == 3, "cas lookups")
check(s["lookups"]["kv"]["hits"] == 1 and s["lookups"]["kv"]["misses"] == 2, "kv lookups")
check(abs(s["lookups"]["kv"]["hit_rate"] - 1 / 3) < 1e-9, "kv hit_rate should be 1/3")
check(s["bytes_received"] >= 2 * 200000, "bytes_received (the PUT and the refused PUT)")
check(s["bytes_sent"] >= 2 * 200000, "bytes_sent (two GETs of the blob)")
check(s["uptime_seconds"] >= 0, "uptime_seconds")
print("   ok: /v1/stats parses and matches what was stored and looked up")
EOF
else
  grep -Eq '"kv": *1\b' "$BODY" || fail "/v1/stats does not show 1 kv entry: $(cat "$BODY")"
  grep -Eq '"ac": *1\b' "$BODY" || fail "/v1/stats does not show 1 ac entry: $(cat "$BODY")"
  grep -Eq '"cas": *4\b' "$BODY" || fail "/v1/stats does not show 4 cas entries: $(cat "$BODY")"
  ok "/v1/stats shows the entries (grep: python3 is not installed)"
fi

step "the counters survive no restart, but the store's figures do"
stop_server
start_server "$DATA" --anonymous write
scrape
[[ $(value "$SCRAPES" ingot_stored_bytes) -eq $STORED_AFTER ]] ||
  fail "ingot_stored_bytes is $(value "$SCRAPES" ingot_stored_bytes) after a restart, was $STORED_AFTER"
[[ $(value "$SCRAPES" 'ingot_http_requests_total{route="cas",method="GET",status="200"}') -eq 0 ]] ||
  fail "request counters did not start from zero"
ok "stored bytes $STORED_AFTER kept; request counters restarted"
stop_server
