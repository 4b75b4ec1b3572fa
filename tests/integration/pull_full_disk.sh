#!/usr/bin/env bash
# Pulling into a full disk, seen from the CLI: `ingot get -o` and `ingot pull-tree` into a
# 32 MiB ext4 (a loop device) that cannot hold what they fetch, from a server whose data dir is
# elsewhere. Each fails with exit 1 and a message that names the file and says the disk has no
# space; a full disk is not retried (one GET of the blob reaches the server); and nothing
# temporary or partial is left: what the destination holds afterwards are whole files of the
# tree. Three ways to fill it: one blob larger than the disk (streamed), a second copy of a
# large file (copied locally from the first), and many small files (fetched in batches).
#
# Needs root (mount) and loop devices: exits 77 (skipped) when it cannot mount, and only then.
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || fail "python3 is needed (to make trees)"
umask 022

MIB=$((1024 * 1024))
mount_scratch_disk 32
free_bytes() { df -B1 --output=avail "$MNT" | tail -n 1 | tr -d ' '; }
FREE=$(free_bytes)
ok "a 32 MiB ext4 on $LOOP at $MNT, $FREE bytes free"

start_server "$TMP/data" --anonymous write

# expect_no_space NAME PATH: the command failed with exit 1 and one line naming PATH and the
# lack of space.
expect_no_space() {
  local name=$1 path=$2
  expect_rc 1 "$name"
  local lines
  lines=$(wc -l <"$TMP/$name.err")
  [[ $lines -eq 1 ]] || fail "$name: $lines lines on stderr, expected one: $(head -c 800 "$TMP/$name.err")"
  grep -qF "$path" "$TMP/$name.err" || fail "$name: the error does not name $path: $(cat "$TMP/$name.err")"
  grep -qF "No space left on device" "$TMP/$name.err" ||
    fail "$name: the error does not say the disk is full: $(cat "$TMP/$name.err")"
  ok "$name: exit 1, $(cat "$TMP/$name.err")"
}

# expect_only_whole_files DEST SRC: no temporary file is left under DEST, and every file there
# is the source's file of the same name, whole.
expect_only_whole_files() {
  local dest=$1 src=$2 temps f n=0
  temps=$(find "$dest" -name '.*.ingot-*' | head -n 5)
  [[ -z $temps ]] || fail "temporary files left at the destination: $temps"
  while IFS= read -r f; do
    cmp -s "$dest/$f" "$src/$f" || fail "$dest/$f is not the source's $f: a partial file"
    n=$((n + 1))
  done < <(cd "$dest" && find . -type f -printf '%P\n')
  ok "no temporary file left; the $n files at the destination are whole"
}

# expect_disk_empty: nothing of ours is left on the disk once the destination is removed.
expect_disk_empty() {
  local left
  left=$(find "$MNT" -mindepth 1 -not -path "$MNT/lost+found*" | head -n 5)
  [[ -z $left ]] || fail "left on the disk: $left"
}

# make_tree DIR SPEC...: files of random bytes; SPEC is PATH:BYTES, or PATH=OTHER for a copy.
make_tree() {
  python3 - "$@" <<'PY'
import os, shutil, sys
root = sys.argv[1]
for spec in sys.argv[2:]:
    if "=" in spec:
        path, other = spec.split("=")
        shutil.copyfile(os.path.join(root, other), os.path.join(root, path))
        continue
    path, size = spec.split(":")
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(os.urandom(int(size)))
PY
}

# push NAME DIR: pushes DIR, sets ROOT to its digest.
push() {
  cli "$1" push-tree --server "$URL" -q "$2"
  expect_rc 0 "$1"
  ROOT=$(cat "$TMP/$1.out")
}

step "get -o of a blob larger than the disk"
random_file "$TMP/huge" $((FREE + 4 * MIB))
HASH=$(sha256 "$TMP/huge")
cli put put --server "$URL" "$TMP/huge"
expect_rc 0 put
# Reads of blobs the server answered: the get's own, and a retry's.
cas_reads() {
  req GET /metrics >/dev/null
  metric 'ingot_cache_lookups_total{namespace="cas",result="hit"}'
}
READS=$(cas_reads)
cli get get --server "$URL" --attempts 3 "$HASH" -o "$MNT/huge"
expect_no_space get "$MNT/huge"
[[ ! -e $MNT/huge ]] || fail "get left $MNT/huge behind"
expect_disk_empty
READS=$(($(cas_reads) - READS))
[[ $READS -eq 1 ]] || fail "the blob was read $READS times: a full disk was retried"
ok "nothing left on the disk; the blob was read once (a full disk is not retried)"

step "pull-tree of a tree with a file larger than the disk"
make_tree "$TMP/big" "big.bin:$((FREE + 4 * MIB))" "small/a:1000" "small/b:2000"
push push-big "$TMP/big"
cli pull-big pull-tree --server "$URL" -q "$ROOT" "$MNT/dest"
expect_no_space pull-big "$MNT/dest/big.bin"
expect_only_whole_files "$MNT/dest" "$TMP/big"
[[ ! -e $MNT/dest/big.bin ]] || fail "pull-tree left a partial $MNT/dest/big.bin"
rm -rf "$MNT/dest"
expect_disk_empty

step "pull-tree of a large file and its copy, when only one fits"
make_tree "$TMP/twins" "one.bin:$((FREE * 6 / 10))" "two.bin=one.bin"
push push-twins "$TMP/twins"
cli pull-twins pull-tree --server "$URL" -q "$ROOT" "$MNT/dest"
expect_no_space pull-twins "$MNT/dest/two.bin"
expect_only_whole_files "$MNT/dest" "$TMP/twins"
[[ ! -e $MNT/dest/two.bin ]] || fail "pull-tree left a partial $MNT/dest/two.bin"
rm -rf "$MNT/dest"
expect_disk_empty

step "pull-tree of more small files than the disk holds"
SPECS=()
for i in $(seq 1 $((FREE / (60 * 1024) + 40))); do
  SPECS+=("d$((i % 8))/f$i:$((60 * 1024))")
done
make_tree "$TMP/many" "${SPECS[@]}"
push push-many "$TMP/many"
cli pull-many pull-tree --server "$URL" -q "$ROOT" "$MNT/dest"
expect_no_space pull-many "$MNT/dest/"
expect_only_whole_files "$MNT/dest" "$TMP/many"
rm -rf "$MNT/dest"
expect_disk_empty

step "with room again, the same pull completes"
make_tree "$TMP/fits" "one.bin:$((FREE / 4))" "two.bin=one.bin" "small/a:1000"
push push-fits "$TMP/fits"
cli pull-fits pull-tree --server "$URL" -q "$ROOT" "$MNT/dest"
expect_rc 0 pull-fits
expect_only_whole_files "$MNT/dest" "$TMP/fits"
[[ $(find "$MNT/dest" -type f | wc -l) -eq 3 ]] || fail "pull-tree did not write all 3 files"
ok "pulled the 3 files"
