#!/usr/bin/env bash
# The page at `/`: GET and HEAD answer 200 with plain HTML (no script) showing the version,
# the disk against the --max-size bound, entries, hit rate and last GC exactly as /v1/stats
# reports them, links to /metrics, /v1/stats and /nix/nix-cache-info, and usage examples
# naming the address from the Host header (escaped). Read scope, as /v1/stats: open with the
# default --anonymous read, 401 with --anonymous none. Other paths stay 404.
source "$(dirname "$0")/lib.sh"

DATA="$TMP/data"
ADMIN=$(token_create "$DATA" admin root)

# page_has TEXT: the last body contains TEXT (fixed string).
page_has() {
  grep -qF -- "$1" "$BODY" || fail "the page lacks '$1':
$(cat "$BODY")"
}

step "a fresh server, no bound: the page says so"
start_server "$DATA"
expect 200 GET /
expect_header Content-Type '^text/html; charset=utf-8$'
page_has "<th>Version</th><td>$("$INGOT" --version | sed 's/^ingot //')</td>"
page_has "no bound (start with --max-size to set one)"
page_has "<th>Hit rate</th><td>no lookups yet</td>"
page_has "<th>Last GC</th><td>never run since the server started</td>"
grep -qi '<script' "$BODY" && fail "the page has a script"
stop_server

step "with a bound, entries, lookups and a GC run: the figures match /v1/stats"
start_server "$DATA" --max-size 64MiB --anonymous write
random_file "$TMP/a" 200000
random_file "$TMP/b" 50000
expect 200 PUT "/cas/$(sha256 "$TMP/a")" --data-binary @"$TMP/a"
expect 200 PUT /kv/ccache/x --data-binary @"$TMP/b"
expect 200 GET "/cas/$(sha256 "$TMP/a")"
expect 200 GET /kv/ccache/x
expect 404 GET /kv/ccache/missing
expect 200 POST /v1/gc -H "Authorization: Bearer $ADMIN"
expect 200 GET /v1/stats
cp "$BODY" "$TMP/stats.json"
expect 200 GET / -H "Host: cache.example:8080"
expect_header Content-Type '^text/html; charset=utf-8$'
cp "$BODY" "$TMP/page.html"
stat_of() { json "$TMP/stats.json" "$1"; }
STORED=$(stat_of "j['stored_bytes']")
BOUND=$(stat_of "j['disk']['max_size_bytes']")
[[ $BOUND -eq $((64 * 1024 * 1024)) ]] || fail "/v1/stats max_size_bytes is $BOUND"
HITS=$(stat_of "sum(v['hits'] for v in j['lookups'].values())")
MISSES=$(stat_of "sum(v['misses'] for v in j['lookups'].values())")
[[ $HITS -eq 2 && $MISSES -eq 1 ]] || fail "/v1/stats counts $HITS hits and $MISSES misses"
GC_RUNS=$(stat_of "j['gc']['runs']")
GC_AT=$(stat_of "j['gc']['last']['finished_unix_seconds']")
page_has "<th>Stored</th><td>$STORED bytes ("
# The disk figure includes the index, which background flushes may grow between two requests:
# its form is checked, the bound exactly.
grep -Eq "<th>Disk</th><td>[0-9]+ bytes \([^)]*\) on disk of the --max-size bound" "$BODY" ||
  fail "the page shows no disk use against the bound: $(grep '<th>Disk' "$BODY")"
page_has "of the --max-size bound $BOUND bytes (64MiB)"
page_has "<th>Entries</th><td>$(stat_of "j['entries']['cas']") blobs, $(stat_of "j['entries']['ac']") ac, $(stat_of "j['entries']['kv']") kv,"
page_has "<th>Hit rate</th><td>66.7% (2 hits, 1 miss)</td>"
page_has "<th>Last GC</th><td>finished $(date -u -d "@$GC_AT" '+%Y-%m-%d %H:%M:%S UTC'), evicted "
page_has "; $GC_RUNS run"
ok "stored $STORED, bound $BOUND, 2 hits 1 miss, GC at $GC_AT: as /v1/stats says"

step "links and usage with the address the reader used"
page_has '<a href="/metrics">'
page_has '<a href="/v1/stats">'
page_has '<a href="/nix/nix-cache-info">'
page_has 'export CCACHE_REMOTE_STORAGE="http://cache.example:8080/kv/ccache"'
page_has '--remote_cache=http://cache.example:8080 \'
page_has 'substituters = http://cache.example:8080/nix https://cache.nixos.org'
for link in /metrics /v1/stats /nix/nix-cache-info; do
  expect 200 GET "$link"
done

step "HEAD: the same header, no body"
expect 200 HEAD / -H "Host: cache.example:8080"
expect_header Content-Type '^text/html; charset=utf-8$'
# Uptime and disk figures may change length between two requests: a page's length, not one.
expect_header Content-Length '^[1-9][0-9]{3,}$'

step "a hostile Host header is escaped"
expect 200 GET / -H 'Host: x"><script>alert(1)</script>'
grep -qF '<script>' "$BODY" && fail "the Host header went into the page unescaped"
page_has 'http://x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;/kv/ccache'

step "other paths stay 404; other methods 405"
expect 404 GET /index.html
page_has "no such route"
expect 404 GET //
expect 405 POST /
expect_header Allow '^GET, HEAD$'
stop_server

step "read scope, as /v1/stats: --anonymous none needs a token"
READER=$(token_create "$DATA" read reader)
start_server "$DATA" --anonymous none
expect 401 GET /
expect 401 GET /v1/stats
expect 200 GET / -H "Authorization: Bearer $READER"
expect_header Content-Type '^text/html; charset=utf-8$'
stop_server
