#!/usr/bin/env bash
# `ingot fsck` on a real data dir: clean at first; then damage made from the shell (a flipped
# byte, a deleted blob file under a kv entry, stray files under blobs/ and in tmp/) is listed
# with exit 4 and changes nothing; fsck is refused while a server owns the data dir; --repair
# lists each action and exits 0; a second run is clean and the good data still reads back.
source "$(dirname "$0")/lib.sh"

DATA="$TMP/data"

source "$(dirname "$0")/fsck_lib.sh"

step "--help explains the command"
"$INGOT" fsck --help >"$TMP/help" || fail "ingot fsck --help exited $?"
for word in --repair --json 'orphan' 'exit|Exit'; do
  grep -Eq -- "$word" "$TMP/help" || fail "ingot fsck --help does not mention $word"
done
ok "mentions --repair, --json, orphans and exit codes"

step "a fresh data dir is clean (exit 0)"
random_file "$TMP/rotten" 100000
random_file "$TMP/value" 90000
random_file "$TMP/good" 150000
text_file "$TMP/text" 20000
echo small >"$TMP/small"
"$INGOT" init --data "$DATA" >/dev/null || fail "ingot init failed"
"$INGOT" put --data "$DATA" "$TMP"/{rotten,good,text,small} >/dev/null || fail "ingot put failed"
ROTTEN=$(sha256 "$TMP/rotten")
VALUE=$(sha256 "$TMP/value")
GOOD=$(sha256 "$TMP/good")
TEXT=$(sha256 "$TMP/text")
run_fsck
[[ $FSCK_RC -eq 0 ]] || fail "fsck of a fresh data dir exited $FSCK_RC: $(cat "$TMP/out" "$TMP/err")"
expect_out '^checked 5 blobs .*: no problems$'
ok "$(tail -n 1 "$TMP/out")"

step "kv entries through a server; fsck is refused while it runs"
start_server "$DATA" --anonymous write
expect 200 PUT /kv/ccache/ab/lost --data-binary @"$TMP/value"
expect 200 PUT /kv/ccache/cd/kept --data-binary @"$TMP/good"
run_fsck
[[ $FSCK_RC -eq 1 ]] || fail "fsck while a server runs exited $FSCK_RC, expected 1"
grep -q "is in use by pid $SERVER_PID" "$TMP/err" || fail "fsck while a server runs said: $(cat "$TMP/err")"
ok "refused: $(cat "$TMP/err")"
stop_server

step "damage: a flipped byte, a deleted file under a kv entry, stray files"
[[ -f $(blob_file "$ROTTEN") && -f $(blob_file "$VALUE") ]] || fail "blob files are not where expected"
chmod u+w "$(blob_file "$ROTTEN")"
flip_byte "$(blob_file "$ROTTEN")" 4321
cmp -s "$(blob_file "$ROTTEN")" "$TMP/rotten" && fail "the byte flip did not change the file"
rm "$(blob_file "$VALUE")"
ORPHAN=ab$(printf '%062d' 7)
echo "no record names me" >"$DATA/blobs/ab/$ORPHAN"
echo junk >"$DATA/blobs/ab/junk"
echo junk >"$DATA/blobs/README"
echo "half an upload" >"$DATA/tmp/interrupted"
ok "done"

step "fsck lists every problem and exits 4, changing nothing"
run_fsck
[[ $FSCK_RC -eq 4 ]] || fail "fsck of a damaged data dir exited $FSCK_RC, expected 4: $(cat "$TMP/out" "$TMP/err")"
expect_out "^corrupt blob +$ROTTEN: .*checksum"
expect_out "^missing file +$VALUE: indexed, but its file blobs/${VALUE:0:2}/$VALUE is gone"
expect_out "^dangling entry +kv 'ccache/ab/lost': value blob $VALUE"
expect_out "^orphan file +blobs/ab/$ORPHAN: no blob record names it"
expect_out "^orphan file +blobs/ab/junk: "
expect_out "^orphan file +blobs/README: "
# Opening a data dir always empties tmp/: reported as done, not as a problem left.
expect_out "^temp file +tmp/interrupted: "
expect_out "^  -> removed leftover temp file tmp/interrupted when the data dir was opened"
expect_out "^checked .*: 7 problems, 6 left; \`ingot fsck --data .* --repair\`"
[[ $(grep -c -- '^  -> ' "$TMP/out") -eq 1 ]] || fail "fsck without --repair listed actions: $(cat "$TMP/out")"
[[ -f $DATA/blobs/ab/$ORPHAN && -f $DATA/blobs/ab/junk && -f $(blob_file "$ROTTEN") ]] ||
  fail "fsck without --repair removed files"
ok "$(tail -n 1 "$TMP/out")"

step "--json: one object with the same findings"
run_fsck --json
[[ $FSCK_RC -eq 4 ]] || fail "fsck --json exited $FSCK_RC, expected 4"
if command -v python3 >/dev/null; then
  python3 - "$TMP/out" "$ROTTEN" "$VALUE" <<'EOF' || fail "fsck --json: $(cat "$TMP/out")"
import json, sys
report = json.load(open(sys.argv[1]))
issues = sorted(f["issue"] for f in report["findings"])
assert issues == ["corrupt_blob", "dangling_entry", "missing_file", "orphan_file", "orphan_file",
                  "orphan_file"], issues
assert report["clean"] is False and report["repair"] is False, report
assert report["problems"] == 6 and report["unrepaired"] == 6 and report["actions"] == [], report
assert report["checked"]["blobs"] == 6 and report["checked"]["entries"] == 2, report["checked"]
subjects = {f["issue"]: f["subject"] for f in report["findings"]}
assert subjects["corrupt_blob"] == sys.argv[2] and subjects["missing_file"] == sys.argv[3], subjects
EOF
  ok "parses; findings and counts as expected"
else
  grep -q '"issue": "corrupt_blob"' "$TMP/out" || fail "fsck --json: $(cat "$TMP/out")"
  grep -q '"clean": false' "$TMP/out" || fail "fsck --json: $(cat "$TMP/out")"
  ok "findings present (grep: python3 is not installed)"
fi

step "--repair fixes everything, listing each action (exit 0)"
run_fsck --repair
[[ $FSCK_RC -eq 0 ]] || fail "fsck --repair exited $FSCK_RC: $(cat "$TMP/out" "$TMP/err")"
expect_out "^  -> dropped corrupt blob $ROTTEN \(checksum mismatch\)$"
expect_out "^  -> dropped blob $VALUE \(its file is gone\)$"
expect_out "^  -> dropped kv entry 'ccache/ab/lost' along with its value blob$"
expect_out "^  -> removed orphan file blobs/ab/$ORPHAN$"
expect_out "^  -> removed stray file blobs/ab/junk$"
expect_out "^  -> removed stray file blobs/README$"
expect_out "^checked .*: 6 problems, all repaired$"
[[ ! -e $DATA/blobs/ab/$ORPHAN && ! -e $DATA/blobs/ab/junk && ! -e $DATA/blobs/README ]] ||
  fail "stray files are still there after --repair"
[[ ! -e $(blob_file "$ROTTEN") ]] || fail "the corrupt blob's file is still there"
ok "$(grep -c -- '^  -> ' "$TMP/out") actions"

step "a second fsck is clean; the good data reads back"
run_fsck
[[ $FSCK_RC -eq 0 ]] || fail "fsck after --repair exited $FSCK_RC: $(cat "$TMP/out")"
expect_out '^checked 4 blobs .*1 entry.*: no problems$'
for pair in "$GOOD:good" "$TEXT:text"; do
  "$INGOT" get --data "$DATA" "${pair%%:*}" -o "$TMP/back" || fail "ingot get ${pair#*:} exited $?"
  cmp -s "$TMP/back" "$TMP/${pair#*:}" || fail "${pair#*:} does not read back intact"
done
GET_RC=0
"$INGOT" get --data "$DATA" "$ROTTEN" -o "$TMP/back" 2>/dev/null || GET_RC=$?
[[ $GET_RC -eq 3 ]] || fail "ingot get of the dropped corrupt blob exited $GET_RC, expected 3"
start_server "$DATA"
expect 404 GET /kv/ccache/ab/lost
expect 200 GET /kv/ccache/cd/kept
expect_body_file "$TMP/good"
stop_server
ok "clean; good blobs intact; the dropped entry misses"
