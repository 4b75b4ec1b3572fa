# shellcheck shell=bash
# Shared by gc.sh, gc_bound.sh and gc_regressions.sh, sourced after lib.sh: the 8 MiB bound
# they serve with and the helpers that build REAPI messages, read /v1/stats and order uses.

command -v python3 >/dev/null || fail "python3 is needed (to read JSON) and is not installed"

MIB=$((1024 * 1024))
BOUND=$((8 * MIB))
SLACK=$((BOUND / 32))

# --- helpers ---------------------------------------------------------------------------------

du_bytes() { du -sb "$1" 2>/dev/null | cut -f1; }

# expect_under_bound DIR BOUND: du -sb DIR is at most BOUND plus the slack.
expect_under_bound() {
  local used
  used=$(du_bytes "$1")
  [[ $used -le $(($2 + $2 / 32)) ]] ||
    fail "du -sb $1 is $used bytes, over the bound $2 plus 1/32 slack ($(($2 / 32)))"
  ok "du -sb is $used bytes, bound $2 (+$(($2 / 32)) slack)"
}

# varint N: N as a protobuf base-128 varint, in printf %b escapes.
varint() {
  local n=$1 out=
  while ((n >= 128)); do
    out+=$(printf '\\x%02x' $(((n & 127) | 128)))
    n=$((n >> 7))
  done
  printf '%s\\x%02x' "$out" "$n"
}

# proto_files OUT TAG NAME FILE [NAME FILE...]: a protobuf message with one repeated field TAG
# (printf escape of its key byte) per file, each {1: NAME, 2: Digest{1: hex, 2: size}}. TAG
# \x0a gives a REAPI Directory with FileNodes (names must come sorted); \x12 an ActionResult
# with OutputFiles.
proto_files() {
  local out=$1 tag=$2 name file size len
  shift 2
  : >"$out"
  while (($# >= 2)); do
    name=$1 file=$2
    shift 2
    size=$(stat -c %s "$file")
    printf '\x0a\x40%s\x10%b' "$(sha256 "$file")" "$(varint "$size")" >"$out.digest"
    len=$(stat -c %s "$out.digest")
    {
      printf '\x0a%b%s\x12%b' "$(varint ${#name})" "$name" "$(varint "$len")"
      cat "$out.digest"
    } >"$out.node"
    len=$(stat -c %s "$out.node")
    {
      printf '%b%b' "$tag" "$(varint "$len")"
      cat "$out.node"
    } >>"$out"
  done
  rm -f "$out.digest" "$out.node"
}

# digest_of FILE: "<hex>/<size>", as refs and /v1/trees name a tree.
digest_of() { echo "$(sha256 "$1")/$(stat -c %s "$1")"; }

put_file() { expect 200 PUT "/cas/$(sha256 "$1")" --data-binary @"$1" "${@:2}"; }

# stats: GET /v1/stats into $TMP/stats.json.
stats() {
  expect 200 GET /v1/stats
  cp "$BODY" "$TMP/stats.json"
}

# next_tick: returns once every use made so far has an older tick than any use made after.
# Eviction orders by the second of last use, and uses are written with the time of their
# flush (twice a second), so: two second boundaries. This orders uses; it does not wait for
# the server to do something.
next_tick() {
  local now i
  for i in 1 2; do
    now=$(date +%s)
    while [[ $(date +%s) == "$now" ]]; do sleep 0.05; done
  done
}
