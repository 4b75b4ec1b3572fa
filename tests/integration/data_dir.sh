#!/usr/bin/env bash
# Data dirs on purpose: only `ingot serve` and `ingot init` create one. Every other command that
# takes --data (token, stats, gc, fsck, put and get with --data) refuses a missing dir, or a dir
# that is no data dir, with exit 2, one line naming the path and the fix, and nothing created.
# --data also comes from INGOT_DATA (the flag wins). Commands refused because a server holds
# the data dir say what to do instead.
source "$(dirname "$0")/lib.sh"

# expect_refused NAME DIR WHAT ARGS...: the command exits 2 with one line naming DIR, WHAT (the
# kind of refusal) and the fix.
expect_refused() {
  local name=$1 dir=$2 what=$3
  shift 3
  cli "$name" "$@"
  expect_rc 2 "$name"
  local err
  err=$(cat "$TMP/$name.err")
  [[ $(wc -l <"$TMP/$name.err") -eq 1 ]] || fail "$name: more than one line on stderr: $err"
  [[ $err == *"$what"* ]] || fail "$name: stderr does not say '$what': $err"
  [[ $err == *"pass --data DIR (or set INGOT_DATA) to the server's data dir, or create one with ingot init --data $dir"* ]] ||
    fail "$name: stderr does not name the fix for $dir: $err"
  [[ ! -s "$TMP/$name.out" ]] || fail "$name printed on stdout: $(head -c 300 "$TMP/$name.out")"
}

# Each command that takes --data but does not serve, with the arguments it needs.
COMMANDS=(
  "token-create:token create"
  "token-list:token list"
  "token-revoke:token revoke nobody"
  "stats:stats"
  "gc:gc --target 1MiB"
  "gc-dry-run:gc --dry-run --target 1MiB"
  "fsck:fsck"
  "put:put $TMP/file"
  "get:get e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)
printf 'some bytes\n' >"$TMP/file"

step "a missing --data is refused by every command, and stays missing"
for entry in "${COMMANDS[@]}"; do
  name=${entry%%:*}
  read -ra args <<<"${entry#*:}"
  expect_refused "missing-$name" "$TMP/typo" "no Ingot data dir at $TMP/typo" "${args[@]}" --data "$TMP/typo"
  [[ ! -e $TMP/typo ]] || fail "${args[*]} --data $TMP/typo created $TMP/typo"
done
ok "token create/list/revoke, stats, gc, gc --dry-run, fsck, put, get: exit 2, nothing created"

step "without --data, the default ./ingot-data is not made in the current directory"
mkdir -p "$TMP/cwd"
INGOT_PATH=$(realpath "$INGOT")
(cd "$TMP/cwd" && "$INGOT_PATH" token create --scope write >"$TMP/cwd-token.out" 2>"$TMP/cwd-token.err") && RC=0 || RC=$?
[[ $RC -eq 2 ]] || fail "token create in an empty dir exited $RC, expected 2: $(cat "$TMP/cwd-token.err")"
grep -qF "no Ingot data dir at ./ingot-data; pass --data DIR (or set INGOT_DATA) to the server's data dir, or create one with ingot init --data ./ingot-data" "$TMP/cwd-token.err" ||
  fail "unexpected message: $(cat "$TMP/cwd-token.err")"
[[ ! -s $TMP/cwd-token.out ]] || fail "token create printed a token for no data dir"
[[ -z $(ls -A "$TMP/cwd") ]] || fail "token create left files in the current dir: $(ls -A "$TMP/cwd")"
ok "no token, no ./ingot-data"

step "a directory that is not a data dir is refused and left as it was"
mkdir -p "$TMP/home"
printf 'mine\n' >"$TMP/home/notes.txt"
for entry in "${COMMANDS[@]}"; do
  name=${entry%%:*}
  read -ra args <<<"${entry#*:}"
  expect_refused "other-$name" "$TMP/home" "$TMP/home is not an Ingot data dir" "${args[@]}" --data "$TMP/home"
  [[ $(ls -A "$TMP/home") == notes.txt ]] || fail "${args[*]} wrote into $TMP/home: $(ls -A "$TMP/home")"
done
ok "exit 2, only notes.txt in it"

step "INGOT_DATA stands for --data; the flag wins"
INGOT_DATA="$TMP/typo2" cli env-missing stats
expect_rc 2 env-missing
grep -qF "no Ingot data dir at $TMP/typo2" "$TMP/env-missing.err" || fail "INGOT_DATA not used: $(cat "$TMP/env-missing.err")"
[[ ! -e $TMP/typo2 ]] || fail "stats created \$INGOT_DATA"

step "ingot init creates a data dir (as serve would), and leaves an existing one alone"
cli init init --data "$TMP/data"
expect_rc 0 init
grep -qF "created an Ingot data dir at $TMP/data" "$TMP/init.out" || fail "init does not say where: $(cat "$TMP/init.out")"
[[ -f $TMP/data/FORMAT && -d $TMP/data/index ]] || fail "init made no data dir: $(ls -A "$TMP/data")"
cli init-again init --data "$TMP/data"
expect_rc 0 init-again
grep -qF "$TMP/data is already an Ingot data dir" "$TMP/init-again.out" || fail "init again: $(cat "$TMP/init-again.out")"
INGOT_DATA="$TMP/from-env" cli init-env init
expect_rc 0 init-env
[[ -f $TMP/from-env/FORMAT ]] || fail "init did not create \$INGOT_DATA"
ok "init, init again, init with INGOT_DATA"

step "stats on a fresh data dir: 'never', not '- ago'"
INGOT_DATA="$TMP/data" cli stats-env stats
expect_rc 0 stats-env
grep -qF "data dir      $TMP/data" "$TMP/stats-env.out" || fail "stats did not read \$INGOT_DATA: $(cat "$TMP/stats-env.out")"
grep -qE '^oldest entry +never' "$TMP/stats-env.out" || fail "stats on a new data dir: $(cat "$TMP/stats-env.out")"
! grep -qF -- '- ago' "$TMP/stats-env.out" || fail "stats still prints '- ago': $(cat "$TMP/stats-env.out")"
INGOT_DATA="$TMP/typo" cli stats-flag stats --data "$TMP/data"
expect_rc 0 stats-flag
grep -qF "data dir      $TMP/data" "$TMP/stats-flag.out" || fail "--data did not win over INGOT_DATA"
cli put-local put --data "$TMP/data" "$TMP/file"
expect_rc 0 put-local
ok "never; INGOT_DATA read; --data wins; put --data works on a real data dir"

step "token create with INGOT_DATA gives a token the running server accepts"
start_server "$TMP/data" --anonymous read
printf 'written with a token\n' >"$TMP/file2"
BLOB=$(sha256 "$TMP/file2")
INGOT_DATA="$TMP/data" cli token token create --scope write
expect_rc 0 token
TOKEN=$(cat "$TMP/token.out")
expect 401 PUT "/cas/$BLOB" --data-binary @"$TMP/file2"
# The server re-reads the tokens file at most once a second: poll, bounded.
deadline=$((SECONDS + 10))
while :; do
  req PUT "/cas/$BLOB" --data-binary @"$TMP/file2" -H "Authorization: Bearer $TOKEN"
  [[ $STATUS == 20[01] ]] && break
  [[ $SECONDS -lt $deadline ]] || fail "PUT with the new token still answers $STATUS"
  sleep 0.1
done
ok "PUT with the token -> $STATUS"

step "offline commands refused while the server holds the data dir say what to do instead"
cli busy-stats stats --data "$TMP/data"
expect_rc 1 busy-stats
grep -qF "GET /v1/stats" "$TMP/busy-stats.err" || fail "stats: $(cat "$TMP/busy-stats.err")"
grep -qF "pid $SERVER_PID" "$TMP/busy-stats.err" || fail "stats does not name the server: $(cat "$TMP/busy-stats.err")"
for gc_args in "gc --target 1MiB" "gc --dry-run --target 1MiB"; do
  read -ra args <<<"$gc_args"
  cli busy-gc "${args[@]}" --data "$TMP/data"
  expect_rc 1 busy-gc
  grep -qF "POST /v1/gc with an admin token" "$TMP/busy-gc.err" || fail "$gc_args: $(cat "$TMP/busy-gc.err")"
done
cli busy-fsck fsck --data "$TMP/data"
expect_rc 1 busy-fsck
grep -qF "ingot fsck works on a data dir no server is using: stop the server first" "$TMP/busy-fsck.err" ||
  fail "fsck: $(cat "$TMP/busy-fsck.err")"
cli busy-put put --data "$TMP/data" "$TMP/file"
expect_rc 1 busy-put
grep -qF "stop the server first, or leave out --data and go through it: ingot put --server" "$TMP/busy-put.err" ||
  fail "put: $(cat "$TMP/busy-put.err")"
cli busy-get get --data "$TMP/data" "$BLOB"
expect_rc 1 busy-get
grep -qF "ingot get --server" "$TMP/busy-get.err" || fail "get: $(cat "$TMP/busy-get.err")"
ok "stats -> GET /v1/stats, gc -> POST /v1/gc, fsck/put/get -> stop the server first"
stop_server
