#!/usr/bin/env bash
# serve's settings from a TOML file (--config) and INGOT_<FLAG> variables, with command line >
# environment > file > default; --dump-config prints the winners as TOML that --config reads
# back; an unknown key is an error naming it and the file; a repeatable flag is a TOML array;
# and --signing-key given a public key file says to pass the secret one.
source "$(dirname "$0")/lib.sh"

# A port free right now, for the file to name (the server must listen where the file says).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# serve_from NAME ARGS...: starts `ingot serve ARGS` (no --listen of ours) and reads its first
# line through a fifo; sets SERVER_PID, SERVER_LOG and FIRST_LINE.
serve_from() {
  local name=$1 fd
  shift
  local fifo="$TMP/$name.fifo"
  SERVER_LOG="$TMP/$name.log"
  mkfifo "$fifo"
  "$INGOT" serve "$@" 2>"$fifo" &
  SERVER_PID=$!
  _PIDS+=("$SERVER_PID")
  exec {fd}<"$fifo"
  FIRST_LINE=
  IFS= read -r -t 30 -u "$fd" FIRST_LINE || fail "ingot serve $* printed no first line within 30 s"
  printf '%s\n' "$FIRST_LINE" >"$SERVER_LOG"
  cat <&"$fd" >>"$SERVER_LOG" &
  _PIDS+=("$!")
  exec {fd}<&-
  rm -f "$fifo"
}

CONF_PORT=$(free_port)
CONF="$TMP/ingot.toml"
cat >"$CONF" <<TOML
# settings for the test
data = "$TMP/data"
listen = "127.0.0.1:$CONF_PORT"
max-size = "1GiB"
anonymous = "none"
TOML

step "--dump-config: the file, an environment variable over it, a flag over both"
INGOT_MAX_SIZE=2GiB cli dump serve --config "$CONF" --anonymous write --dump-config
expect_rc 0 dump
grep -qxF "listen = \"127.0.0.1:$CONF_PORT\"" "$TMP/dump.out" || fail "listen from the file: $(cat "$TMP/dump.out")"
grep -qxF 'max-size = "2GiB"' "$TMP/dump.out" || fail "max-size from INGOT_MAX_SIZE: $(cat "$TMP/dump.out")"
grep -qxF 'anonymous = "write"' "$TMP/dump.out" || fail "anonymous from the flag: $(cat "$TMP/dump.out")"
grep -qxF 'gc-high = 0.9' "$TMP/dump.out" || fail "defaults are shown: $(cat "$TMP/dump.out")"
[[ ! -e $TMP/data ]] || fail "--dump-config created the data dir"
ok "listen (file), max-size (environment), anonymous (flag), gc-high (default)"

step "--dump-config's output is a config file: read back, it gives the same settings"
cp "$TMP/dump.out" "$TMP/dumped.toml"
cli dump-again serve --config "$TMP/dumped.toml" --dump-config
expect_rc 0 dump-again
diff "$TMP/dump.out" "$TMP/dump-again.out" >"$TMP/dump.diff" || fail "read back differs: $(cat "$TMP/dump.diff")"
ok "identical"

step "the environment beats the file, and the flag beats the environment"
INGOT_ANONYMOUS=read INGOT_LISTEN=127.0.0.1:1 cli dump-env serve --config "$CONF" --listen 127.0.0.1:2 --dump-config
expect_rc 0 dump-env
grep -qxF 'anonymous = "read"' "$TMP/dump-env.out" || fail "INGOT_ANONYMOUS over the file: $(cat "$TMP/dump-env.out")"
grep -qxF 'listen = "127.0.0.1:2"' "$TMP/dump-env.out" || fail "--listen over INGOT_LISTEN: $(cat "$TMP/dump-env.out")"
INGOT_CONFIG="$CONF" cli dump-cfg-env serve --dump-config
expect_rc 0 dump-cfg-env
grep -qxF "listen = \"127.0.0.1:$CONF_PORT\"" "$TMP/dump-cfg-env.out" || fail "INGOT_CONFIG not read: $(cat "$TMP/dump-cfg-env.out")"
ok "INGOT_ANONYMOUS over anonymous =, --listen over INGOT_LISTEN, INGOT_CONFIG names the file"

step "the server started from the file serves on the port the file names, as the file says"
for attempt in 1 2 3 4 5; do
  serve_from conf --config "$CONF"
  [[ $FIRST_LINE == *"cannot listen on"* && $attempt -lt 5 ]] || break
  # Another process took the port between free_port and the server's bind: name another.
  wait_exit "$SERVER_PID" 20
  CONF_PORT=$(free_port)
  sed -i "s/^listen = .*/listen = \"127.0.0.1:$CONF_PORT\"/" "$CONF"
done
[[ $FIRST_LINE == "ingot: serving $TMP/data ("*"bounded to 1GiB) on http://127.0.0.1:$CONF_PORT/" ]] ||
  fail "first line: $FIRST_LINE"
URL="http://127.0.0.1:$CONF_PORT"
expect 200 GET /healthz
expect 401 GET /cas/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
stop_server
ok "port $CONF_PORT, 1 GiB bound, anonymous none"

step "a key the file does not know is an error naming the key and the file"
printf 'listen = "127.0.0.1:0"\nmax_size = "1GiB"\n' >"$TMP/typo.toml"
cli typo serve --config "$TMP/typo.toml" --data "$TMP/typo-data"
expect_rc 2 typo
grep -qF "config file $TMP/typo.toml: unknown key 'max_size'" "$TMP/typo.err" || fail "typo: $(cat "$TMP/typo.err")"
grep -qF "max-size" "$TMP/typo.err" || fail "typo: the known keys are not listed: $(cat "$TMP/typo.err")"
[[ ! -e $TMP/typo-data ]] || fail "a bad config file still created the data dir"
printf '[serve]\nlisten = "127.0.0.1:0"\n' >"$TMP/section.toml"
cli section serve --config "$TMP/section.toml" --dump-config
expect_rc 2 section
grep -qF "config file $TMP/section.toml: unknown section [serve]" "$TMP/section.err" || fail "section: $(cat "$TMP/section.err")"
printf 'threads = "many"\n' >"$TMP/value.toml"
cli value serve --config "$TMP/value.toml" --dump-config
expect_rc 2 value
grep -qF "config file $TMP/value.toml: threads" "$TMP/value.err" || fail "bad value: $(cat "$TMP/value.err")"
cli nofile serve --config "$TMP/absent.toml" --dump-config
expect_rc 2 nofile
grep -qF "config file $TMP/absent.toml does not exist" "$TMP/nofile.err" || fail "absent: $(cat "$TMP/nofile.err")"
ok "unknown key, section, bad value and a named file that is absent: exit 2"

step "a repeatable flag is a TOML array: signing-key = [new, old]"
"$INGOT" keygen --name new-key --out "$TMP/keys" >/dev/null 2>&1 || fail "keygen new-key"
"$INGOT" keygen --name old-key --out "$TMP/keys" >/dev/null 2>&1 || fail "keygen old-key"
cat >"$TMP/keys.toml" <<TOML
data = "$TMP/keys-data"
signing-key = ["$TMP/keys/new-key.key", "$TMP/keys/old-key.key"]
TOML
cli dump-keys serve --config "$TMP/keys.toml" --dump-config
expect_rc 0 dump-keys
grep -qxF "signing-key = [\"$TMP/keys/new-key.key\", \"$TMP/keys/old-key.key\"]" "$TMP/dump-keys.out" ||
  fail "signing-key: $(cat "$TMP/dump-keys.out")"
serve_from keys --config "$TMP/keys.toml" --listen 127.0.0.1:0
[[ $FIRST_LINE =~ on\ http://127\.0\.0\.1:([0-9]+)/$ ]] || fail "first line: $FIRST_LINE"
URL="http://127.0.0.1:${BASH_REMATCH[1]}"
expect 200 GET /v1/keys
expect_json "$BODY" "[k['status'] for k in j['keys']] == ['active', 'retired'] and j['keys'][0]['minisign'] == open('$TMP/keys/new-key.pub').read()" "keys from the array"
stop_server
ok "both keys, the first active"

step "--signing-key with the public key file says to pass the secret one"
for pub in new-key.pub new-key.nix.pub; do
  cli pub serve --data "$TMP/pub-data" --listen 127.0.0.1:0 --signing-key "$TMP/keys/$pub"
  expect_rc 2 pub
  grep -qF -- "--signing-key $TMP/keys/$pub is a public key" "$TMP/pub.err" || fail "$pub: $(cat "$TMP/pub.err")"
  grep -qF "pass the secret key file from ingot keygen instead: $TMP/keys/new-key.key" "$TMP/pub.err" ||
    fail "$pub: the fix is not named: $(cat "$TMP/pub.err")"
  ! grep -qE 'chmod|damaged' "$TMP/pub.err" || fail "$pub: still about modes or damage: $(cat "$TMP/pub.err")"
done
[[ ! -e $TMP/pub-data ]] || fail "serve with a public key created its data dir"
ok "NAME.pub and NAME.nix.pub -> pass NAME.key"
