#!/usr/bin/env bash
# Build trees through the CLI, as a build stage uses it: push-tree of a tree with nested
# directories, executables, symlinks, empty files and directories, non-ASCII names and 10k small
# files; a second push uploads nothing; pull-tree gives the source back byte for byte and mode
# for mode and reuses what the destination holds; refs (--ref, --pin, ref get|set|list|rm);
# put and get; a blob damaged on the server makes pull fail naming the file (exit 4) and
# leaves no damaged file behind; symlinks leading out of the tree are refused unless allowed;
# tokens; and a push whose server is killed half-way completes when run again.
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || fail "python3 is needed (to make trees and read JSON)"
umask 022

# snapshot DIR: one line per entry (path, type, mode, size, symlink target), sorted; two trees
# with equal snapshots and no `diff -r` output are equal byte for byte and mode for mode.
snapshot() { (cd "$1" && find . -mindepth 1 -printf '%P %y %m %s %l\n' | LC_ALL=C sort); }

expect_same_tree() {
  local a=$1 b=$2 what=$3
  diff <(snapshot "$a") <(snapshot "$b") >"$TMP/snapshot.diff" ||
    fail "$what: names, types or modes differ: $(head -c 1500 "$TMP/snapshot.diff")"
  diff -r --no-dereference "$a" "$b" >"$TMP/content.diff" ||
    fail "$what: contents differ: $(head -c 1500 "$TMP/content.diff")"
  ok "$what: $(snapshot "$a" | wc -l) entries equal, contents and modes"
}

# --- a tree with everything a build output has -------------------------------------------------
SRC="$TMP/src"
python3 - "$SRC" <<'PY'
import os, sys
root = sys.argv[1]
def write(path, data, mode=0o644):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)
    os.chmod(full, mode)
write("bin/tool", b"#!/bin/sh\necho tool\n", 0o755)
write("lib/libx.a", os.urandom(300_000))
write("lib/deep/er/still/file.txt", b"deep\n")
write("share/empty", b"")
write("share/ünïcødé ñame.txt", "non-ASCII name\n".encode())
write("share/copy1.txt", b"same content\n")
write("share/copy2.txt", b"same content\n")
os.makedirs(os.path.join(root, "empty-dir"))
os.makedirs(os.path.join(root, "twin/a"))
os.makedirs(os.path.join(root, "twin/b"))
write("twin/a/x", b"identical subdirectory\n")
write("twin/b/x", b"identical subdirectory\n")
os.symlink("../lib/libx.a", os.path.join(root, "bin/libx-link"))
os.symlink("deep", os.path.join(root, "lib/dir-link"))
os.symlink("dangling-but-inside", os.path.join(root, "share/dangling"))
for d in range(100):
    for f in range(100):
        write(f"many/d{d:03}/f{f:03}.o", f"object {d} {f}\n".encode() * (1 + f % 7))
PY
FILES=$(find "$SRC" -type f | wc -l)
BYTES=$(find "$SRC" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
step "source tree: $FILES files, $BYTES bytes, $(find "$SRC" -type l | wc -l) symlinks"

DATA="$TMP/data"
start_server "$DATA" --anonymous write

step "push-tree uploads everything once"
cli push1 push-tree --server "$URL" --json "$SRC"
expect_rc 0 "push-tree"
# REAPI: the empty blob is always present, so share/empty is the one file not uploaded.
expect_json "$TMP/push1.out" "j['files'] == $FILES and j['bytes'] == $BYTES and j['uploaded_files'] == $FILES - 1 and j['present_files'] == 1 and j['symlinks'] == 3" \
  "first push summary"
ROOT=$(json "$TMP/push1.out" "j['root']" | tr -d '"')
[[ $ROOT =~ ^[0-9a-f]{64}/[0-9]+$ ]] || fail "root '$ROOT' is not <hex>/<size>"
REQUESTS=$(json "$TMP/push1.out" "j['requests']")
[[ $REQUESTS -lt 100 ]] || fail "pushing $FILES small files took $REQUESTS requests; small blobs should travel in batches"
ok "root $ROOT, $FILES files in $REQUESTS requests"

step "a second push uploads nothing and prints the same root"
cli push2 push-tree --server "$URL" "$SRC"
expect_rc 0 "second push-tree"
[[ $(cat "$TMP/push2.out") == "$ROOT" ]] || fail "second push printed '$(cat "$TMP/push2.out")', expected $ROOT"
grep -q "uploaded 0 (0B), $FILES already on the server" "$TMP/push2.err" ||
  fail "second push summary: $(cat "$TMP/push2.err")"
ok "$(cat "$TMP/push2.err")"

step "a progress bar on a terminal, and none when stderr is not one"
mkdir -p "$TMP/pb"
for i in 1 2 3; do echo "progress $i" >"$TMP/pb/f$i"; done
command -v script >/dev/null || fail "script (util-linux) is needed to give push-tree a terminal"
script -qec "'$INGOT' push-tree --server '$URL' '$TMP/pb'" /dev/null >"$TMP/tty.out" 2>&1 ||
  fail "push-tree on a terminal exited $?: $(cat -v "$TMP/tty.out")"
grep -Eq 'push \[=+\] 3/3 files .* in [0-9]+:[0-9]{2}' "$TMP/tty.out" ||
  fail "no progress bar on a terminal: $(cat -v "$TMP/tty.out" | head -c 500)"
grep -q $'\r' "$TMP/push2.err" && fail "a progress bar was drawn on a stderr that is not a terminal"
ok "$(tr '\r' '\n' <"$TMP/tty.out" | grep -a 'push \[' | tail -n1 | sed 's/\x1b\[K//')"

step "pull-tree gives the source back, and a second pull downloads nothing"
DEST="$TMP/dest"
cli pull1 pull-tree --server "$URL" --json "$ROOT" "$DEST"
expect_rc 0 "pull-tree"
expect_same_tree "$SRC" "$DEST" "pulled tree"
expect_json "$TMP/pull1.out" "j['downloaded_files'] == $FILES and j['present_files'] == 0" "first pull summary"
echo "changed" >"$DEST/share/copy1.txt"
chmod 0644 "$DEST/bin/tool"
rm "$DEST/lib/dir-link"
cli pull2 pull-tree --server "$URL" --json "$ROOT" "$DEST"
expect_rc 0 "second pull-tree"
expect_json "$TMP/pull2.out" "j['downloaded_files'] == 1 and j['present_files'] == $FILES - 1" \
  "pull over a destination with one changed file"
expect_same_tree "$SRC" "$DEST" "repaired destination (content, mode and symlink restored)"
[[ -z $(find "$DEST" -name '.*ingot-*') ]] || fail "temporary files left in $DEST: $(find "$DEST" -name '.*ingot-*')"

step "pull-tree of an unknown tree exits 3"
cli pull3 pull-tree --server "$URL" "$(printf '%064d' 0)/12" "$TMP/nothing"
expect_rc 3 "pull-tree of an unknown digest"
ok "$(cat "$TMP/pull3.err")"

step "refs: --ref and --pin, ref get|set|list|rm, pull-tree --ref"
cli pushref push-tree --server "$URL" --ref "builds/main/linux x86" --pin "$SRC"
expect_rc 0 "push-tree --ref --pin"
cli refget ref get --server "$URL" "builds/main/linux x86"
expect_rc 0 "ref get"
[[ $(cat "$TMP/refget.out") == "$ROOT" ]] || fail "ref get printed '$(cat "$TMP/refget.out")', not the digest alone"
cli refset ref set --server "$URL" builds/other "$("$INGOT" ref get --server "$URL" "builds/main/linux x86")"
expect_rc 0 "ref set B \$(ref get A)"
cli refgetjson ref get --server "$URL" --json builds/other
expect_json "$TMP/refgetjson.out" "j['name'] == 'builds/other' and j['digest'] == '$ROOT' and j['pinned'] is False" "ref get --json"
cli reflist ref list --server "$URL" --json builds/
expect_rc 0 "ref list"
expect_json "$TMP/reflist.out" "sorted((r['name'], r['pinned']) for r in j['refs']) == [('builds/main/linux x86', True), ('builds/other', False)]" \
  "ref list builds/"
cli pullref pull-tree --server "$URL" --ref "builds/main/linux x86" "$TMP/by-ref"
expect_rc 0 "pull-tree --ref"
expect_same_tree "$SRC" "$TMP/by-ref" "tree pulled by ref"
cli refrm ref rm --server "$URL" builds/other
expect_rc 0 "ref rm"
cli refgone ref get --server "$URL" builds/other
expect_rc 3 "ref get of a removed ref"
cli pinbad push-tree --server "$URL" --pin "$SRC"
expect_rc 2 "push-tree --pin without --ref"
ok "refs set, listed, pulled and removed"

step "put and get"
head -c 200000 /dev/urandom >"$TMP/blob"
cli put put --server "$URL" "$TMP/blob"
expect_rc 0 "put"
HASH=$(sha256sum "$TMP/blob" | cut -d' ' -f1)
[[ $(cat "$TMP/put.out") == "$HASH 200000 $TMP/blob" ]] || fail "put printed '$(cat "$TMP/put.out")'"
cli get get --server "$URL" "$HASH" -o "$TMP/blob.back"
expect_rc 0 "get -o"
cmp -s "$TMP/blob" "$TMP/blob.back" || fail "get -o gave other bytes"
"$INGOT" get --server "$URL" "$HASH" | cmp -s - "$TMP/blob" || fail "get to stdout gave other bytes"
echo "from stdin" | "$INGOT" put --server "$URL" - >"$TMP/put-stdin.out" || fail "put - exited $?"
[[ $(cut -d' ' -f1 "$TMP/put-stdin.out") == $(echo "from stdin" | sha256sum | cut -d' ' -f1) ]] ||
  fail "put - printed $(cat "$TMP/put-stdin.out")"
cli miss get --server "$URL" "$(printf '%064d' 1)"
expect_rc 3 "get of an unknown blob"
ok "put, get -o, get to stdout, put -, and a miss (exit 3)"

step "a blob damaged on the server: pull fails naming the file, leaves nothing damaged"
LIBX=$(sha256sum "$SRC/lib/libx.a" | cut -d' ' -f1)
BLOB_FILE="$DATA/blobs/${LIBX:0:2}/$LIBX"
[[ -f $BLOB_FILE ]] || fail "expected lib/libx.a (random, 300 kB) stored as $BLOB_FILE"
printf 'X' | dd of="$BLOB_FILE" bs=1 seek=1000 conv=notrunc status=none
cli corrupt pull-tree --server "$URL" "$ROOT" "$TMP/damaged"
expect_rc 4 "pull-tree of a tree with a damaged blob"
grep -q "lib/libx.a" "$TMP/corrupt.err" || fail "the error does not name lib/libx.a: $(cat "$TMP/corrupt.err")"
[[ ! -e $TMP/damaged/lib/libx.a ]] || fail "a damaged lib/libx.a was left at the destination"
[[ -z $(find "$TMP/damaged" -name '.*ingot-*') ]] || fail "temporary files left behind"
ok "$(cat "$TMP/corrupt.err")"
cp "$SRC/lib/libx.a" "$BLOB_FILE" # repair, for what follows

step "symlinks leading out of the tree are refused unless allowed, by push-tree and pull-tree"
mkdir -p "$TMP/evil/sub"
ln -s ../../outside "$TMP/evil/sub/up"
ln -s /etc/passwd "$TMP/evil/abs"
cli evilrefused push-tree --server "$URL" "$TMP/evil"
expect_rc 2 "push-tree of a tree with outward symlinks"
grep -Eq "symlink '(abs|sub/up)' -> .*--allow-escaping-symlinks" "$TMP/evilrefused.err" ||
  fail "push-tree's refusal names no symlink and no flag: $(cat "$TMP/evilrefused.err")"
cli evilpush push-tree --server "$URL" --allow-escaping-symlinks "$TMP/evil"
expect_rc 0 "push-tree --allow-escaping-symlinks"
EVIL=$(cat "$TMP/evilpush.out")
cli evilpull pull-tree --server "$URL" "$EVIL" "$TMP/evil-dest"
[[ $RC -ne 0 ]] || fail "pull-tree created symlinks leading out of the tree"
grep -Eq "abs|sub/up" "$TMP/evilpull.err" || fail "the refusal names no symlink: $(cat "$TMP/evilpull.err")"
cli evilok pull-tree --server "$URL" --allow-escaping-symlinks "$EVIL" "$TMP/evil-ok"
expect_rc 0 "pull-tree --allow-escaping-symlinks"
[[ $(readlink "$TMP/evil-ok/abs") == /etc/passwd ]] || fail "abs symlink not restored"
ok "refused: $(cat "$TMP/evilpull.err")"

step "tokens: a read-only server refuses a push with a clear error; a token lets it through"
stop_server
"$INGOT" token create --data "$DATA" --name builder --scope read,write >"$TMP/token" 2>"$TMP/token.err" ||
  fail "token create exited $?: $(cat "$TMP/token.err")"
TOKEN=$(tail -n1 "$TMP/token")
start_server "$DATA" --anonymous read
mkdir -p "$TMP/small" && echo "needs a token" >"$TMP/small/f"
cli noauth push-tree --server "$URL" "$TMP/small"
expect_rc 1 "push-tree without a token"
grep -q "401" "$TMP/noauth.err" || fail "no 401 in: $(cat "$TMP/noauth.err")"
printf '%s\n' "$TOKEN" >"$TMP/token-file"
cli authfile push-tree --server "$URL" --token-file "$TMP/token-file" "$TMP/small"
expect_rc 0 "push-tree --token-file"
INGOT_TOKEN=$TOKEN INGOT_SERVER=$URL "$INGOT" push-tree "$TMP/small" >/dev/null 2>&1 ||
  fail "push-tree with INGOT_TOKEN and INGOT_SERVER exited $?"
ok "401 without a token; --token-file and INGOT_TOKEN/INGOT_SERVER work"
stop_server

step "a push whose server is killed half-way completes when run again"
BIG="$TMP/big"
mkdir -p "$BIG"
for i in $(seq 1 300); do head -c 262144 /dev/urandom >"$BIG/part$i.bin"; done
DATA2="$TMP/data2"
start_server "$DATA2" --anonymous write
"$INGOT" push-tree --server "$URL" --jobs 1 --attempts 3 "$BIG" >"$TMP/killed.out" 2>"$TMP/killed.err" &
PUSH_PID=$!
_PIDS+=("$PUSH_PID")
cas_entries() { curl -s "$URL/metrics" | awk '$1 == "ingot_entries{namespace=\"cas\"}" { print $2 }'; }
# Wait until part of the tree is stored (beyond the empty blob, always present), then freeze
# the push so that it cannot finish before the server is gone, kill the server, and let the
# push find out.
BASE=$(cas_entries)
stored=0
while [[ $stored -lt 20 ]]; do
  kill -0 "$PUSH_PID" 2>/dev/null || fail "the push ended before the server could be killed; $(cat "$TMP/killed.err")"
  stored=$(cas_entries)
  stored=$((${stored:-0} - BASE))
done
kill -STOP "$PUSH_PID"
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
kill -CONT "$PUSH_PID"
wait_exit "$PUSH_PID" 120
[[ $EXIT_STATUS -ne 0 ]] || fail "push-tree succeeded although its server was killed"
ok "interrupted after $stored blobs; push-tree exited $EXIT_STATUS: $(tail -n1 "$TMP/killed.err")"
start_server "$DATA2" --anonymous write
cli resumed push-tree --server "$URL" --json "$BIG"
expect_rc 0 "push-tree run again"
expect_json "$TMP/resumed.out" "j['files'] == 300 and 0 < j['uploaded_files'] < 300 and j['present_files'] >= 20" \
  "the second run uploads only what the first did not"
cli pullbig pull-tree --server "$URL" "$(json "$TMP/resumed.out" "j['root']" | tr -d '"')" "$TMP/big-back"
expect_rc 0 "pull-tree of the resumed push"
expect_same_tree "$BIG" "$TMP/big-back" "tree of the resumed push"
