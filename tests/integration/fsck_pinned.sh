#!/usr/bin/env bash
# fsck guards pinned data (issue 20): a release's artifact damaged on disk and a file of a
# pinned ref's tree deleted, with the server stopped. fsck names the release (and the file)
# and the ref that need each blob, and how to restore it (exit 4); --repair drops the damaged
# copy but keeps the pins, and says the release is still broken (exit 4, never "all
# repaired"); the release answers 404 for the file until the same file is uploaded again
# (curl -T, `ingot put`), which the server accepts because the digest matches; then `release
# fetch` works, the blobs are pinned again (a GC down to nothing keeps them) and fsck is clean.
source "$(dirname "$0")/lib.sh"

DATA="$TMP/data"
KEYS="$TMP/keys"

source "$(dirname "$0")/fsck_lib.sh"

step "publish a release and push a pinned tree"
"$INGOT" keygen --name rel --out "$KEYS" >/dev/null || fail "keygen exited $?"
PUBLISHER=$(token_create "$DATA" read,write,sign publisher)
ADMIN=$(token_create "$DATA" admin root)
start_server "$DATA" --signing-key "$KEYS/rel.key"
ART="$TMP/artifacts"
mkdir -p "$ART" "$TMP/tree/sub"
random_file "$ART/app.tar" 300000
echo "release notes" >"$ART/NOTES.txt"
"$INGOT" release publish --server "$URL" --token "$PUBLISHER" --project demo --version 1.0 \
  "$ART/app.tar" "$ART/NOTES.txt" >/dev/null || fail "release publish exited $?"
random_file "$TMP/tree/sub/lib.so" 120000
echo hello >"$TMP/tree/readme"
"$INGOT" push-tree --server "$URL" --token "$PUBLISHER" --ref builds/x --pin "$TMP/tree" >/dev/null ||
  fail "push-tree exited $?"
stop_server
APP=$(sha256 "$ART/app.tar")
LIB=$(sha256 "$TMP/tree/sub/lib.so")
run_fsck
[[ $FSCK_RC -eq 0 ]] || fail "fsck before any damage exited $FSCK_RC: $(cat "$TMP/out" "$TMP/err")"
ok "$(tail -n1 "$TMP/out")"

step "damage on disk: a flipped byte in app.tar, the tree's lib.so deleted"
[[ -f $(blob_file "$APP") && -f $(blob_file "$LIB") ]] || fail "blob files are not where expected"
chmod u+w "$(blob_file "$APP")"
flip_byte "$(blob_file "$APP")" 1234
cmp -s "$(blob_file "$APP")" "$ART/app.tar" && fail "the byte flip did not change the file"
rm "$(blob_file "$LIB")"
ok "done"

step "fsck names the release, the file, the ref and the blob, and how to restore (exit 4)"
run_fsck
[[ $FSCK_RC -eq 4 ]] || fail "fsck exited $FSCK_RC, expected 4: $(cat "$TMP/out" "$TMP/err")"
expect_out "^corrupt blob +$APP: .*checksum.*; release demo 1.0 needs it as app.tar$"
expect_out "^  to restore: \`ingot fsck --data $DATA --repair\` drops the damaged copy \(keeping its pins\); then upload app.tar .*\`curl -T app.tar .*/cas/$APP\`"
expect_out "^missing file +$LIB: indexed, but its file .* is gone; pinned ref 'builds/x' needs it$"
expect_out "^  to restore: .*ingot push-tree DIR --ref builds/x --pin"
expect_out "^checked .*: 2 problems, 2 left"
ok "$(grep -c '^  to restore: ' "$TMP/out") restore hints"

step "--repair drops the damaged copies, keeps the pins, and says the release is still broken (exit 4)"
run_fsck --repair
[[ $FSCK_RC -eq 4 ]] || fail "fsck --repair exited $FSCK_RC, expected 4: $(cat "$TMP/out" "$TMP/err")"
expect_out "^  -> dropped the damaged copy of pinned blob $APP and kept its pins: not repaired until it is uploaded again$"
expect_out "^  to restore: upload app.tar \(the file as released\) again: \`ingot put --data $DATA app.tar\` \(server stopped\) or \`curl -T app.tar .*http://HOST:PORT/cas/$APP\`"
expect_out "^checked .*: 2 problems, 0 repaired, 2 not repaired"
grep -q "all repaired\|no problems" "$TMP/out" && fail "fsck --repair claims success: $(cat "$TMP/out")"
[[ ! -e $(blob_file "$APP") ]] || fail "the damaged copy of app.tar is still there"
ok "$(tail -n1 "$TMP/out")"

step "fsck keeps exiting 4 while the release is broken, naming it"
run_fsck
[[ $FSCK_RC -eq 4 ]] || fail "fsck after --repair exited $FSCK_RC, expected 4: $(cat "$TMP/out")"
expect_out "^missing pinned +pin set 'release/demo/1.0': names blob $APP, which is not stored; release demo 1.0 needs it as app.tar$"
expect_out "^missing pinned +pin set 'ref/builds/x': names blob $LIB, which is not stored; pinned ref 'builds/x' needs it$"
expect_out "^checked .*: 2 problems, 2 left: pinned data that an upload of the same bytes restores \(see \`to restore\` above\)$"
ok "$(tail -n1 "$TMP/out")"

step "the server answers 404 for the file until it is uploaded again"
start_server "$DATA" --signing-key "$KEYS/rel.key"
expect 404 GET /v1/releases/demo/1.0/app.tar
expect 200 PUT "/cas/$APP" -T "$ART/app.tar" -H "Authorization: Bearer $PUBLISHER"
expect 200 GET /v1/releases/demo/1.0/app.tar
expect_body_file "$ART/app.tar"
"$INGOT" put --server "$URL" --token "$PUBLISHER" "$TMP/tree/sub/lib.so" >/dev/null || fail "ingot put lib.so exited $?"
"$INGOT" release fetch --server "$URL" demo 1.0 --out "$TMP/fetched" --trusted-key "$KEYS/rel.pub" \
  >"$TMP/fetch.out" 2>&1 || fail "release fetch after the re-upload exited $?: $(cat "$TMP/fetch.out")"
cmp -s "$TMP/fetched/app.tar" "$ART/app.tar" || fail "the fetched app.tar differs"
"$INGOT" pull-tree --server "$URL" --ref builds/x "$TMP/pulled" >/dev/null 2>"$TMP/pull.err" ||
  fail "pull-tree of the pinned ref exited $?: $(cat "$TMP/pull.err")"
cmp -s "$TMP/pulled/sub/lib.so" "$TMP/tree/sub/lib.so" || fail "the pulled lib.so differs"
ok "release fetch and pull-tree work again"

step "pinned again: a GC down to nothing keeps them"
expect 200 POST "/v1/gc?target=0" -H "Authorization: Bearer $ADMIN"
expect 200 GET /v1/releases/demo/1.0/app.tar
expect_body_file "$ART/app.tar"
expect 200 GET "/cas/$LIB"
stop_server
run_fsck
[[ $FSCK_RC -eq 0 ]] || fail "fsck after the re-upload exited $FSCK_RC: $(cat "$TMP/out")"
expect_out ": no problems$"
ok "$(tail -n1 "$TMP/out")"
