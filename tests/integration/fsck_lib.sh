# shellcheck shell=bash
# Shared by fsck.sh and fsck_pinned.sh, sourced after lib.sh: running `ingot fsck` on $DATA
# and reading what it printed.

# run_fsck [options...]: sets FSCK_RC; stdout in $TMP/out, stderr in $TMP/err.
run_fsck() {
  FSCK_RC=0
  "$INGOT" fsck --data "$DATA" "$@" >"$TMP/out" 2>"$TMP/err" || FSCK_RC=$?
}

# expect_out REGEX: some line of the last fsck's stdout matches.
expect_out() {
  grep -Eq -- "$1" "$TMP/out" || fail "fsck: no line matches /$1/ in:
$(cat "$TMP/out" "$TMP/err")"
}

# blob_file HEX: where a file blob lives in $DATA.
blob_file() { echo "$DATA/blobs/${1:0:2}/$1"; }

# flip_byte FILE OFFSET: inverts every bit of one byte, so the file always changes (writing a
# fixed byte left a random file as it was once in 256 runs).
flip_byte() {
  local old
  old=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  [[ -n $old ]] || fail "$1 has no byte at offset $2"
  printf "\\x$(printf %02x $((old ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
