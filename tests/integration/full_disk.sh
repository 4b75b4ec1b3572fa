#!/usr/bin/env bash
# A full disk, seen from curl: `ingot serve --max-size 1GiB` on a 96 MiB ext4 (a loop device),
# so that the file system fills long before the bound. Random blobs, small (inline in the
# index) and large (files), under /cas/ and /kv/, until large ones get 507; then: every PUT that
# got 200 reads back with its sha256, GET and /healthz go on, a 507 says in one line that the
# disk is full; admin DELETEs of blobs and keys work on the full disk and writes are accepted
# again at once (no GC run needed: a purged blob's file goes at once).
#
# RocksDB's own ENOSPC: small values fill the disk again through the index (WAL, a memtable
# flushed into a table); then a file outside the data dir takes the rest of the disk. A RocksDB
# flush that meets ENOSPC aborted the server (Debian's librocksdb 7.8 asserts when a table is
# written on after a failed write), so the server must refuse writes while the index still has
# room to flush and compact: the server runs, RocksDB's LOG shows no ENOSPC, and once the file
# is gone, writes succeed again without a restart. Last: SIGTERM exits cleanly, leaves no temp
# file in DATA/tmp, and a restart on the same dir serves every acknowledged value.
#
# Needs root (mount) and loop devices: exits 77 (skipped) when it cannot mount, and only then.
source "$(dirname "$0")/lib.sh"

KIB=1024
MIB=$((1024 * KIB))
DISK_MIB=96
# Below the inline threshold (1/4096 of --max-size, at most 32 KiB): stored in the index.
SMALL_MAX=$((30 * KIB))

command -v python3 >/dev/null || fail "python3 is needed and is not installed (scripts/deps.sh test)"

# --- the disk --------------------------------------------------------------------------------

mount_scratch_disk "$DISK_MIB"
ok "a ${DISK_MIB} MiB ext4 on $LOOP at $MNT: $(df -h --output=size,avail "$MNT" | tail -n 1)"

# --- helpers ---------------------------------------------------------------------------------

DATA="$MNT/data"
ACKED="$TMP/acked" # PATH SHA256 SIZE of every PUT answered 200
declare -A GONE=() # PATHs deleted since
: >"$ACKED"
N=0

free_bytes() { df -B1 --output=avail "$MNT" | tail -n 1 | tr -d ' '; }

# try_put cas|kv SIZE: PUTs SIZE random bytes under /cas/ (at their hash) or at a new /kv/
# key; a 200 is recorded in $ACKED, a 507 kept in $TMP/last-507; anything else fails.
try_put() {
  local kind=$1 size=$2 hash path
  random_file "$TMP/blob" "$size"
  hash=$(sha256 "$TMP/blob")
  N=$((N + 1))
  if [[ $kind == cas ]]; then
    path=/cas/$hash
  else
    path=/kv/fill/$N
  fi
  req PUT "$path" --data-binary @"$TMP/blob"
  case $STATUS in
  200) echo "$path $hash $size" >>"$ACKED" ;;
  507) cp "$BODY" "$TMP/last-507" ;;
  *) fail "PUT $path ($size bytes, $(free_bytes) bytes free on the disk) answered $STATUS: $(head -c 300 "$BODY")" ;;
  esac
}

small_size() { echo $((KIB + RANDOM % (SMALL_MAX - KIB))); }
large_size() { echo $((256 * KIB + (RANDOM * 64) % (7 * MIB / 4))); }

# verify_acked: every acknowledged value not deleted since reads back with its sha256.
verify_acked() {
  local path hash size n=0
  while read -r path hash size; do
    [[ -z ${GONE[$path]:-} ]] || continue
    req GET "$path"
    [[ $STATUS == 200 ]] ||
      fail "GET $path (acknowledged, $size bytes) answered $STATUS: $(head -c 300 "$BODY")"
    [[ $BODY_SIZE -eq $size && $(sha256 "$BODY") == "$hash" ]] ||
      fail "GET $path: $BODY_SIZE bytes with sha256 $(sha256 "$BODY"), acknowledged $size bytes with $hash"
    n=$((n + 1))
  done <"$ACKED"
  ok "$n acknowledged values read back with the sha256 they were written with"
}

# expect_507_message: the last 507 names the lack of space, in one line (lib.sh checks that
# every error body is one plain-text line).
expect_507_message() {
  [[ -f $TMP/last-507 ]] || fail "no write got 507"
  grep -qiE 'space|room|full' "$TMP/last-507" ||
    fail "the 507 body does not say that space is lacking: $(cat "$TMP/last-507")"
  ok "507: $(cat "$TMP/last-507")"
}

# until_put_ok cas|kv SIZE WHAT: retries a new PUT until it gets 200, for at most 30 s.
until_put_ok() {
  local kind=$1 size=$2 what=$3 deadline=$((SECONDS + 30)) start=$SECONDS tries=0
  while :; do
    tries=$((tries + 1))
    try_put "$kind" "$size"
    [[ $STATUS == 200 ]] && break
    [[ $SECONDS -lt $deadline ]] ||
      fail "$what: a PUT of $size bytes under /$kind/ still gets $STATUS after 30 s ($(free_bytes) bytes free): $(cat "$TMP/last-507")"
    sleep 0.2
  done
  ok "$what: PUT of $size bytes under /$kind/ -> 200 (after $tries tries, $((SECONDS - start)) s)"
}

# --- fill the disk ---------------------------------------------------------------------------

start_server "$DATA" --max-size 1GiB --anonymous write
ADMIN=$(token_create "$DATA" admin admin)
[[ -n $ADMIN ]] || fail "ingot token create printed no token"
AS_ADMIN=(-H "Authorization: Bearer $ADMIN")

step "fill the disk with large and small blobs under /cas/ and /kv/ until large ones get 507"
REFUSED=0 TRIES=0
while [[ $REFUSED -lt 6 ]]; do
  TRIES=$((TRIES + 1))
  [[ $TRIES -le 1000 ]] || fail "1000 PUTs into a ${DISK_MIB} MiB disk and large ones still stored"
  case $((TRIES % 4)) in
  0) try_put cas "$(large_size)" ;;
  1) try_put kv "$(large_size)" ;;
  2) try_put cas "$(small_size)" ;;
  3) try_put kv "$(small_size)" ;;
  esac
  if ((TRIES % 4 < 2)); then
    [[ $STATUS == 507 ]] && REFUSED=$((REFUSED + 1)) || REFUSED=0
  fi
done
ok "$(wc -l <"$ACKED") of $TRIES PUTs stored; $(free_bytes) bytes left on the disk"
expect_507_message

# fill_index WHAT: small values (inline in the index: its log, memtables, then tables) until
# 10 in a row get 507, /cas/ ones (which reserve their size) and /kv/ ones (which reserve as
# they arrive); up to 2000 x 30 KiB, past a memtable (16 MiB under --max-size 1GiB). The server
# must refuse them while the index still has room to flush: a RocksDB flush that met ENOSPC
# aborted the server (Debian's librocksdb asserts on a write after a failed one).
fill_index() {
  local refused=0 stored=0 i
  for i in $(seq 1 2000); do
    if ((i % 2)); then
      try_put cas "$SMALL_MAX"
    else
      try_put kv "$SMALL_MAX"
    fi
    if [[ $STATUS == 507 ]]; then
      refused=$((refused + 1))
      [[ $refused -ge 10 ]] && break
    else
      refused=0 stored=$((stored + 1))
    fi
  done
  [[ $refused -ge 10 ]] || fail "$1: 2000 small values into a full disk, and writes are still accepted"
  ok "$stored more small values stored, then 507 ($(free_bytes) bytes free)"
  expect_507_message
  expect_index_never_full
}

# expect_index_never_full: the server runs, and its index never met ENOSPC.
expect_index_never_full() {
  kill -0 "$SERVER_PID" 2>/dev/null || fail "the server (pid $SERVER_PID) is gone"
  if grep -h 'No space left' "$DATA"/index/LOG* >"$TMP/index-enospc" 2>/dev/null; then
    fail "RocksDB met ENOSPC: $(head -c 600 "$TMP/index-enospc")"
  fi
  ok "the server runs; RocksDB's LOG shows no ENOSPC"
}

step "reads go on on the full disk"
expect 200 GET /healthz
verify_acked
expect 404 GET "/cas/$(printf '%064d' 0)"

# --- make room -------------------------------------------------------------------------------

# free_up BYTES: admin DELETE /cas/ of large acknowledged values (a blob under /cas/, or the
# value of a /kv/ key, which goes with it) until BYTES are deleted; with `all`, every one.
free_up() {
  local want=$1 freed=0 n=0 path hash size
  while read -r path hash size; do
    [[ $size -gt $SMALL_MAX && -z ${GONE[$path]:-} ]] || continue
    [[ $want == all || $freed -lt $want ]] || continue
    expect 200 DELETE "/cas/$hash" "${AS_ADMIN[@]}" >/dev/null
    GONE[$path]=1
    freed=$((freed + size)) n=$((n + 1))
  done <"$ACKED"
  [[ $want == all || $freed -ge $want ]] || fail "only $freed bytes of large values to delete, $want wanted"
  ok "deleted $n large values ($freed bytes); $(free_bytes) bytes free now"
}

step "admin DELETEs of blobs and keys work on the full disk"
free_up $((40 * MIB))
DELETED_KV=0
while read -r path hash size; do
  if [[ $path == /kv/* && -z ${GONE[$path]:-} && $DELETED_KV -lt 3 ]]; then
    expect 200 DELETE "$path" "${AS_ADMIN[@]}"
    GONE[$path]=1
    DELETED_KV=$((DELETED_KV + 1))
  fi
done <"$ACKED"
for path in "${!GONE[@]}"; do
  expect 404 GET "$path" >/dev/null
done
ok "every deleted blob and key is a miss"

step "writes are accepted again"
until_put_ok cas $((2 * MIB)) "a large blob after the DELETEs"
until_put_ok kv "$(small_size)" "a small value after the DELETEs"
until_put_ok kv $((MIB)) "a large value after the DELETEs"
verify_acked

step "small values (inline in the index) fill the disk again, through memtable flushes"
fill_index "small values after the DELETEs"
TABLES=$(find "$DATA/index" -name '*.sst' | wc -l)
[[ $TABLES -ge 1 ]] || fail "the index wrote no table: the small values never made it flush"
ok "the index flushed into $TABLES tables on the filling disk"
verify_acked
free_up all
until_put_ok kv "$(small_size)" "a small value after more DELETEs"
until_put_ok cas $((MIB)) "a large blob after more DELETEs"

# --- RocksDB's own ENOSPC --------------------------------------------------------------------

step "a file outside the data dir takes the rest of the disk; small values go to the index"
dd if=/dev/zero of="$MNT/filler" bs=64k status=none 2>/dev/null || true
dd if=/dev/zero of="$MNT/filler" bs=4k oflag=append conv=notrunc status=none 2>/dev/null || true
ok "$(free_bytes) bytes left on the disk"
fill_index "small values with a file taking the rest of the disk"
expect 200 GET /healthz
verify_acked

step "once the file is gone, writes succeed again without a restart"
rm -f "$MNT/filler"
ok "$(free_bytes) bytes free"
until_put_ok kv "$(small_size)" "a small value after the disk got room again"
until_put_ok cas $((MIB)) "a large blob after the disk got room again"
verify_acked

# --- stop, no temp files, restart ------------------------------------------------------------

step "SIGTERM: a clean exit that leaves no temp file"
stop_server
LEFT=$(find "$DATA/tmp" -mindepth 1 | head -n 20)
[[ -z $LEFT ]] || fail "temp files left in $DATA/tmp: $LEFT"
ok "$DATA/tmp is empty"

step "a restart on the same data dir serves every acknowledged value"
start_server "$DATA" --max-size 1GiB --anonymous write
verify_acked
until_put_ok kv "$(small_size)" "a small value after the restart"
stop_server
