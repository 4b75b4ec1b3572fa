#!/usr/bin/env bash
# The `ingot` CLI as a user meets it (issue 20, "CLI drift" and "errors that guide"): ref get
# prints what ref set takes; a ref may name a stored file; list commands print aligned tables
# and --json; GET /v1/gc is the GC part alone; a yanked release is not fetched silently; a
# signature by another key exits 4; a digest's size counts; a release refuses a tree with a
# symlink; an unknown command and a refused token say what to do.
source "$(dirname "$0")/lib.sh"

DATA="$TMP/data"
KEYS="$TMP/keys"

# expect_err NAME TEXT: stderr of the last `cli NAME` holds TEXT (a fixed string).
expect_err() {
  grep -qF -- "$2" "$TMP/$1.err" || fail "$1: stderr does not say '$2': $(head -c 800 "$TMP/$1.err")"
}

# expect_aligned NAME: every line of $TMP/NAME.out starts its columns where the header's do.
expect_aligned() {
  python3 - "$TMP/$1.out" <<'EOF' || fail "$1: columns not aligned: $(cat "$TMP/$1.out")"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
starts = [m.start() for m in re.finditer(r"(?<=  )\S", lines[0])]
assert len(lines) > 1 and starts, lines
for line in lines[1:]:
    for s in starts:
        assert line[s - 2:s] == "  " and line[s] != " ", (line, s)
EOF
}

step "an unknown command names it and where the list is (exit 2)"
cli unknown foo
expect_rc 2 "ingot foo"
[[ $(cat "$TMP/unknown.err") == "ingot: unknown command 'foo'; run 'ingot --help' for the list" ]] ||
  fail "ingot foo said: $(cat "$TMP/unknown.err")"
cli unknownsub ref fetch
expect_rc 2 "ingot ref fetch"
expect_err unknownsub "ingot: unknown command 'ref fetch'; run 'ingot ref --help' for the list"
ok "$(cat "$TMP/unknown.err")"

"$INGOT" keygen --name rel --out "$KEYS" >/dev/null || fail "keygen exited $?"
"$INGOT" keygen --name other --out "$KEYS" >/dev/null || fail "keygen other exited $?"
READER=$(token_create "$DATA" read reader)
PUBLISHER=$(token_create "$DATA" read,write,sign publisher)
ADMIN=$(token_create "$DATA" admin root)
start_server "$DATA" --anonymous write --signing-key "$KEYS/rel.key"

step "a wrong or missing token: the server's answer and the fix, no internal step"
echo "some bytes" >"$TMP/small"
cli badtoken put --server "$URL" --token not-a-token "$TMP/small"
expect_rc 1 "put with an unknown token"
expect_err badtoken "ingot: the server refused the token (HTTP 401: unknown or revoked token); check --token or INGOT_TOKEN"
grep -q findMissing "$TMP/badtoken.err" && fail "the error names an internal step: $(cat "$TMP/badtoken.err")"
cli noscope put --server "$URL" --token "$READER" "$TMP/small"
expect_rc 1 "put with a read-only token"
expect_err noscope "(HTTP 403: token lacks the 'write' scope"
expect_err noscope "use a token with that scope"
ok "$(cat "$TMP/badtoken.err")"

step "ref get prints the digest, as ref set takes it; --json the record; ref list a table"
mkdir -p "$TMP/tree/bin" && echo tool >"$TMP/tree/bin/tool"
ROOT=$("$INGOT" push-tree --server "$URL" -q --ref builds/a "$TMP/tree") || fail "push-tree exited $?"
cli getA ref get --server "$URL" builds/a
expect_rc 0 "ref get"
[[ $(cat "$TMP/getA.out") == "$ROOT" ]] || fail "ref get printed '$(cat "$TMP/getA.out")', not $ROOT"
cli copy ref set --server "$URL" --pin builds/longer-name-b "$(cat "$TMP/getA.out")"
expect_rc 0 "ref set B \$(ref get A)"
cli getjson ref get --server "$URL" --json builds/longer-name-b
expect_json "$TMP/getjson.out" "j['name'] == 'builds/longer-name-b' and j['digest'] == '$ROOT' and j['pinned'] is True" \
  "ref get --json"
cli list ref list --server "$URL" builds/
expect_rc 0 "ref list"
[[ $(head -n1 "$TMP/list.out") =~ ^NAME\ +DIGEST\ +PINNED\ +UPDATED$ ]] || fail "ref list header: $(head -n1 "$TMP/list.out")"
grep -Eq "^builds/longer-name-b +$ROOT +yes +20[0-9-]+T" "$TMP/list.out" || fail "ref list: $(cat "$TMP/list.out")"
expect_aligned list
cli listjson ref list --server "$URL" --json builds/
expect_json "$TMP/listjson.out" "sorted(r['name'] for r in j['refs']) == ['builds/a', 'builds/longer-name-b']" "ref list --json"
ok "ref set B \$(ref get A) copied $ROOT"

step "a ref may name a stored file blob, not only a tree"
random_file "$TMP/blob" 5000
BLOB_HASH=$(sha256sum "$TMP/blob" | cut -d' ' -f1)
"$INGOT" put --server "$URL" "$TMP/blob" >/dev/null || fail "put exited $?"
cli fileref ref set --server "$URL" --pin tools/blob "$BLOB_HASH/5000"
expect_rc 0 "ref set to a file blob"
cli filerefget ref get --server "$URL" tools/blob
[[ $(cat "$TMP/filerefget.out") == "$BLOB_HASH/5000" ]] || fail "ref get tools/blob: $(cat "$TMP/filerefget.out")"
cli absent ref set --server "$URL" tools/none "$(printf '%064d' 7)/10"
expect_rc 2 "ref set to a blob never uploaded"
expect_err absent "upload it before naming it"
ok "tools/blob -> $BLOB_HASH/5000"

step "get HEX/SIZE with the wrong size names both sizes (exit 3)"
cli wrongsize get --server "$URL" "$BLOB_HASH/4999" -o "$TMP/wrong"
expect_rc 3 "get with the wrong size"
expect_err wrongsize "is 5000 bytes, not 4999"
[[ ! -e $TMP/wrong ]] || fail "get with the wrong size wrote $TMP/wrong"
cli rightsize get --server "$URL" "$BLOB_HASH/5000" -o "$TMP/right"
expect_rc 0 "get with the right size"
cmp -s "$TMP/blob" "$TMP/right" || fail "get gave other bytes"
ok "$(cat "$TMP/wrongsize.err")"

step "GET /v1/gc is the GC part of /v1/stats alone"
expect 200 GET /v1/gc
expect_json "$BODY" "set(j) == {'running', 'last', 'max_size_bytes', 'gc_high_bytes', 'gc_low_bytes', 'used_bytes', 'pinned_bytes', 'runs', 'evicted_entries', 'evicted_bytes', 'duration_seconds', 'oldest_entry_age_seconds'} and j['running'] is False and j['last'] is None and j['runs'] == 0" \
  "GET /v1/gc"

step "release publish --ref refuses a tree with a symlink, naming it"
mkdir -p "$TMP/rel/bin" && echo v1 >"$TMP/rel/bin/tool" && ln -s tool "$TMP/rel/bin/tool-link"
"$INGOT" push-tree --server "$URL" -q --ref builds/rel "$TMP/rel" >/dev/null || fail "push-tree exited $?"
cli pubsym release publish --server "$URL" --token "$PUBLISHER" --project demo --version 0.9 --ref builds/rel
expect_rc 2 "publish --ref of a tree with a symlink"
expect_err pubsym "symlink bin/tool-link -> tool: a release is regular files listed in SHA256SUMS"
ok "$(cat "$TMP/pubsym.err")"

step "release list prints a table; --json the server's JSON"
rm "$TMP/rel/bin/tool-link"
"$INGOT" push-tree --server "$URL" -q --ref builds/rel "$TMP/rel" >/dev/null || fail "push-tree exited $?"
cli pub1 release publish --server "$URL" --token "$PUBLISHER" --project demo --version 1.0 --ref builds/rel
expect_rc 0 "publish 1.0"
cli pub2 release publish --server "$URL" --token "$PUBLISHER" --project demo --version 1.10.0-rc1 "$TMP/blob"
expect_rc 0 "publish 1.10.0-rc1"
cli yank release yank --server "$URL" --token "$ADMIN" demo 1.0 --reason "miscompiled on arm64"
expect_rc 0 "yank 1.0"
cli rlist release list --server "$URL" demo
expect_rc 0 "release list"
[[ $(head -n1 "$TMP/rlist.out") =~ ^VERSION\ +PUBLISHED\ +YANKED$ ]] || fail "release list header: $(cat "$TMP/rlist.out")"
grep -Eq '^1\.0 +20[0-9-]+T[0-9:]+Z +yes$' "$TMP/rlist.out" || fail "release list: $(cat "$TMP/rlist.out")"
grep -Eq '^1\.10\.0-rc1 +20[0-9-]+T[0-9:]+Z +no$' "$TMP/rlist.out" || fail "release list: $(cat "$TMP/rlist.out")"
expect_aligned rlist
cli rlistjson release list --server "$URL" --json demo
expect_json "$TMP/rlistjson.out" "sorted((v['version'], v['yanked']) for v in j['versions']) == [('1.0', True), ('1.10.0-rc1', False)]" \
  "release list --json"
ok "$(tr '\n' '|' <"$TMP/rlist.out")"

step "a yanked release is not fetched silently (exit 3 naming the reason); --allow-yanked fetches it"
cli fetchyanked release fetch --server "$URL" demo 1.0 --out "$TMP/yanked" --trusted-key "$KEYS/rel.pub"
expect_rc 3 "fetch of a yanked release"
expect_err fetchyanked "release demo 1.0 was yanked (reason: miscompiled on arm64); pass --allow-yanked to fetch it anyway"
[[ ! -e $TMP/yanked ]] || fail "fetch of a yanked release wrote $TMP/yanked"
cli fetchanyway release fetch --server "$URL" demo 1.0 --allow-yanked --out "$TMP/yanked" --trusted-key "$KEYS/rel.pub"
expect_rc 0 "fetch --allow-yanked"
expect_err fetchanyway "warning: release demo 1.0 is yanked (reason: miscompiled on arm64)"
cmp -s "$TMP/yanked/bin/tool" "$TMP/rel/bin/tool" || fail "fetch --allow-yanked gave other bytes"
ok "$(cat "$TMP/fetchyanked.err")"

step "a signature by another key exits 4, from fetch and from verify"
cli otherfetch release fetch --server "$URL" demo 1.10.0-rc1 --out "$TMP/other" --trusted-key "$KEYS/other.pub"
expect_rc 4 "fetch with another key"
expect_err otherfetch "verify with the signer's public key"
cli otherverify release verify "$TMP/yanked" --trusted-key "$KEYS/other.pub"
expect_rc 4 "verify with another key"
expect_err otherverify "verify with the signer's public key"
ok "$(cat "$TMP/otherverify.err")"
