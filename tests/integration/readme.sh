#!/usr/bin/env bash
# shellcheck disable=SC2317 # the sandbox's helpers are called by the session it sources
# Every command block of README.md, run as a reader would run it, so that the README cannot
# drift from what the binary does.
#
# readme_blocks.py extracts the fenced blocks and their fates (annotations right above a
# fence, described in that file): a ```sh block runs unless it says why not; any other block
# says what it is (sample output, a file's contents, which is then written where the README
# says). Each README section (a heading) with runnable blocks is one bash session, `set -eu`,
# so that variables carry from block to block as in a reader's shell, and a failing command or
# an unset variable fails the block. Skipped sh blocks are checked with `bash -n`.
#
# Each session runs in its own sandbox, as root: `unshare --net --mount --pid` gives it its own
# loopback, so the README's literal 127.0.0.1:8080 works and never meets another process on
# the machine; /etc and /var are overlays on a tmpfs, so blocks that write /etc/ingot,
# /var/lib/ingot or /var/cache/ingot leave the machine as it was, and /etc/hosts maps `cache`,
# the README's name for the server's host, to 127.0.0.1. The session starts in a fresh
# directory standing for the reader's clone: `ingot` (the binary under test) is on PATH;
# scripts/run is the real one's last lines without the package install and build (checked
# below); out/, dist/ and app.tar stand for the reader's build outputs and release files.
# Unless the section names another (a `serve` block or a `server:` annotation), its server is
# the quick start's, `ingot serve --data ./ingot-data --listen 127.0.0.1:8080`; once it serves,
# $TOKEN (read,write) and $ADMIN_TOKEN (admin) hold tokens of its data dir, as the README says
# its examples assume. A `stopped` block has the server stopped first and a later block starts
# it again; every server must exit 0 on SIGTERM at the end.
#
# A failure names the README line of the block, prints the block, its output and the server's
# log (INGOT_TEST_README_VERBOSE=1 prints every block's output). Not root, or no namespaces:
# skipped (exit 77).

if [[ ${1-} == --sandbox ]]; then
  # Inside the namespaces: readme.sh --sandbox INGOT SESSION DIR. Everything in this branch runs
  # with the session's own mounts, network and pids, all gone when it exits.
  set -eu
  __INGOT=$2 __SESSION=$3 __DIR=$4
  __LOG=$__DIR/log
  __hosts=$(cat /etc/hosts)
  # `ip link set lo up`, without needing iproute2: SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP.
  python3 -c '
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0))[:18])[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 1))'
  mount -t tmpfs readme-test "$__DIR/overlay"
  for __d in etc var; do
    mkdir -p "$__DIR/overlay/$__d-upper" "$__DIR/overlay/$__d-work"
    mount -t overlay overlay -o "lowerdir=/$__d,upperdir=$__DIR/overlay/$__d-upper,workdir=$__DIR/overlay/$__d-work" "/$__d"
  done
  printf '%s\n127.0.0.1 cache\n' "$__hosts" >/etc/hosts
  # The machine's own settings stay out, as lib.sh keeps them out of every test; the README's
  # blocks set their own (lib.sh's empty INGOT_CONFIG would hide the file they write).
  rm -rf /etc/ingot /var/lib/ingot /var/cache/ingot
  unset INGOT_CONFIG
  mkdir -p "$__DIR/bin" "$__DIR/home"
  ln -s "$__INGOT" "$__DIR/bin/ingot"
  export PATH="$__DIR/bin:$PATH" HOME="$__DIR/home"
  cd "$__DIR/clone"

  __die() {
    echo "readme-test: $*" >&2
    exit 1
  }
  __SERVER_CMD='' __SERVER_PID='' __SERVER_STARTED=''
  __section() { __SERVER_CMD=$3; }
  __start_server() {
    local fifo="$__DIR/server.fifo" line='' fd
    rm -f "$fifo"
    mkfifo "$fifo"
    bash -c "exec $__SERVER_CMD" 2>"$fifo" &
    __SERVER_PID=$! __SERVER_STARTED=yes
    exec {fd}<"$fifo"
    # A warning (plain HTTP on a public address) may come before the line that says it serves.
    while [[ $line != "ingot: serving "* ]]; do
      local got=0 status=0
      IFS= read -r -t 60 -u "$fd" line || got=$?
      if [[ $got -gt 128 ]]; then
        __die "'$__SERVER_CMD' did not say it serves within 60 s: $(cat "$__DIR/server.log")"
      elif [[ $got -ne 0 ]]; then # the end of its stderr: it exited
        wait "$__SERVER_PID" || status=$?
        __die "'$__SERVER_CMD' exited $status before serving: $(cat "$__DIR/server.log")"
      fi
      printf '%s\n' "$line" >>"$__DIR/server.log"
    done
    cat <&"$fd" >>"$__DIR/server.log" &
    exec {fd}<&-
    echo "@@@ the server serves: $line"
    local data=./ingot-data
    [[ $__SERVER_CMD =~ --data[=\ ]+([^ ]+) ]] && data=${BASH_REMATCH[1]}
    [[ -n ${TOKEN-} ]] ||
      TOKEN=$(ingot token create --data "$data" --scope read,write --name readme-test 2>/dev/null)
    [[ -n ${ADMIN_TOKEN-} ]] ||
      ADMIN_TOKEN=$(ingot token create --data "$data" --scope admin --name readme-test-admin 2>/dev/null)
    echo "@@@ \$TOKEN and \$ADMIN_TOKEN are tokens of $data"
  }
  __stop_server() {
    local status=0
    kill -TERM "$__SERVER_PID"
    wait "$__SERVER_PID" || status=$?
    [[ $status -eq 0 ]] || __die "'$__SERVER_CMD' exited $status after SIGTERM; its log: $(tail -n 20 "$__DIR/server.log")"
    __SERVER_PID=''
    echo "@@@ the server stopped"
  }
  __begin() {
    echo "$1" >"$__DIR/state"
    echo "@@@ README.md:$1 ($2)"
    __OFFSET=$(stat -c %s "$__LOG")
    case $2 in
    # A reader told to stop the server had one running: start it first if this is the first.
    stopped)
      [[ -n $__SERVER_PID || -n $__SERVER_STARTED || -z $__SERVER_CMD ]] || __start_server
      [[ -z $__SERVER_PID ]] || __stop_server
      ;;
    serve) [[ -z $__SERVER_PID ]] || __stop_server ;;
    run) [[ -n $__SERVER_PID || -z $__SERVER_CMD ]] || __start_server ;;
    esac
  }
  __serve() {
    __SERVER_CMD=$(cat)
    __start_server
  }
  __end() { echo "@@@ README.md:$1 done"; }
  # The block's own output (less the lines of this harness, @@@) contains TEXT, where any run
  # of spaces, tabs and newlines matches any other (output in columns, over several lines).
  __expect() {
    local want
    want=$(printf '%s' "$2" | tr '\t\n' '  ' | tr -s ' ')
    tail -c +$((__OFFSET + 1)) "$__LOG" | grep -v '^@@@ ' | tr '\t\n' '  ' | tr -s ' ' |
      grep -qF -- "$want" || __die "README.md:$1: the block's output does not contain '$2'"
  }
  __file() {
    echo "$1" >"$__DIR/state"
    echo "@@@ README.md:$1 (file $2)"
    mkdir -p "$(dirname "$2")"
    cat >"$2"
  }
  __finish() {
    echo "done" >"$__DIR/state"
    [[ -z $__SERVER_PID ]] || __stop_server
  }
  # shellcheck disable=SC1090 # generated by readme_blocks.py
  source "$__SESSION"
  exit 0
fi

source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
README="$ROOT/README.md"

for tool in python3 unshare; do
  command -v "$tool" >/dev/null || fail "$tool is needed and is not installed (scripts/deps.sh test)"
done
[[ $(id -u) -eq 0 ]] || skip "the README's blocks run in namespaces of their own, which needs root (running as uid $(id -u))"
mkdir -p "$TMP/probe"
# shellcheck disable=SC2016 # expanded by the inner bash
unshare --net --mount --pid --fork --mount-proc bash -c 'mount -t tmpfs probe "$1" &&
  mkdir "$1/upper" "$1/work" &&
  mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc' \
  _ "$TMP/probe" 2>"$TMP/unshare.err" ||
  skip "cannot make the sandbox (unshare --net --mount --pid, a tmpfs, an overlay on /etc): $(head -c 300 "$TMP/unshare.err")"

step "every block of README.md has a fate"
python3 "$HERE/readme_blocks.py" "$README" "$TMP/blocks" >"$TMP/blocks.list" 2>"$TMP/blocks.err" ||
  fail "$(cat "$TMP/blocks.err")"
for kind in run serve stopped file compile skip text; do
  ok "$(awk -v kind="$kind" '$2 == kind { n++ } END { print n + 0 }' "$TMP/blocks.list") blocks: $kind"
done

step "skipped sh blocks are at least valid shell (bash -n)"
for f in "$TMP"/blocks/skip-*.sh; do
  [[ -e $f ]] || continue
  line=${f##*/skip-}
  line=${line%.sh}
  # bash names the line within the block: name the README's line instead.
  bash -n "$f" 2>"$TMP/syntax.err" ||
    fail "skipped block at README.md:$line is not valid shell: $(awk -v fence="$line" '{
      if (match($0, /: line [0-9]+: /)) {
        n = substr($0, RSTART + 7, RLENGTH - 9) + fence
        $0 = "README.md:" n ": " substr($0, RSTART + RLENGTH)
      }
      print }' "$TMP/syntax.err")"
done
ok "bash -n"

step "C++ blocks compile against the headers (as the body of main)"
for f in "$TMP"/blocks/compile-*.cpp; do
  [[ -e $f ]] || continue
  line=${f##*/compile-}
  line=${line%.cpp}
  ${CXX:-c++} -std=c++20 -Wall -Wextra -Werror -fsyntax-only -I"$ROOT" "$f" 2>"$TMP/compile.err" ||
    fail "the C++ block at README.md:$line does not compile; as compiled:
$(cat -n "$f")
$(head -c 3000 "$TMP/compile.err")"
  ok "README.md:$line"
done

step "the sandbox's scripts/run is the real one without its install and build"
# The real script ends by running the built binary: with arguments, as `ingot ARGS`; without,
# as the quick start's server. The stand-in does the same with the binary under test.
# shellcheck disable=SC2016 # the lines as scripts/run has them
for want in 'ingot=build-run/tools/ingot' '  exec "$ingot" "$@"' \
  'exec "$ingot" serve --data ./ingot-data --listen 127.0.0.1:8080'; do
  grep -qxF -- "$want" "$ROOT/scripts/run" ||
    fail "scripts/run has no line '$want' any more: make the stand-in in $0 do what it does now"
done
ok "scripts/run runs ingot ARGS, or serves ./ingot-data on 127.0.0.1:8080"

# The reader's clone, as each session gets it afresh.
CLONE="$TMP/clone"
mkdir -p "$CLONE/scripts" "$CLONE/out/bin" "$CLONE/out/lib" "$CLONE/out/empty" "$CLONE/dist"
cat >"$CLONE/scripts/run" <<'EOF'
#!/usr/bin/env bash
# tests/integration/readme.sh's stand-in: the real scripts/run installs packages and builds
# build-run/tools/ingot first; here `ingot` is the binary under test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -gt 0 ]]; then
  exec ingot "$@"
fi
exec ingot serve --data ./ingot-data --listen 127.0.0.1:8080
EOF
chmod +x "$CLONE/scripts/run"
printf '#!/bin/sh\necho app\n' >"$CLONE/out/bin/app"
chmod +x "$CLONE/out/bin/app"
random_file "$CLONE/out/lib/libapp.a" 70000
text_file "$CLONE/out/app.tar" 2000
: >"$CLONE/out/empty.txt"
random_file "$CLONE/dist/acme-1.4.0.tar.gz" 50000
text_file "$CLONE/dist/acme.1" 50
random_file "$CLONE/dist/app.tar" 40000
printf 'not really a signature\n' >"$CLONE/dist/app.sig"
cp "$CLONE/dist/app.tar" "$CLONE/app.tar"

for session in "$TMP"/blocks/*-section.sh; do
  [[ -e $session ]] || continue
  first_line=$(head -n 1 "$session" | cut -d' ' -f2)
  name=$(head -n 1 "$session" | python3 -c 'import shlex, sys; print(shlex.split(sys.stdin.read())[2])')
  step "README.md:$first_line: $name"
  dir="$TMP/run-${session##*/}"
  dir=${dir%-section.sh}
  mkdir -p "$dir/overlay"
  cp -a "$CLONE" "$dir/clone"
  rc=0
  # The limit only stops a block that hangs (waiting for input it will never get, say).
  timeout -k 5 300 unshare --net --mount --pid --fork --mount-proc --kill-child \
    bash "$0" --sandbox "$(realpath "$INGOT")" "$session" "$dir" </dev/null >"$dir/log" 2>&1 || rc=$?
  state=$(cat "$dir/state" 2>/dev/null || echo "(none)")
  if [[ $rc -ne 0 || $state != "done" ]]; then
    {
      echo "--- the session exited $rc in the block at README.md:$state; the block:"
      if [[ $state =~ ^[0-9]+$ ]]; then
        awk -v from="$state" 'NR > from { if (/^```/) exit; print "    " $0 }' "$README"
        echo "--- its output:"
        awk -v mark="@@@ README.md:$state (" 'index($0, mark) == 1 { on = 1 } on' "$dir/log"
      else
        cat "$dir/log"
      fi
      if [[ -f $dir/server.log ]]; then
        echo "--- the server's log (last 15 lines):"
        tail -n 15 "$dir/server.log"
      fi
    } >&2
    fail "README.md:$state ($name) failed"
  fi
  [[ -z ${INGOT_TEST_README_VERBOSE-} ]] || cat "$dir/log"
  ok "$(grep -c '^@@@ README.md:[0-9]* done$' "$dir/log") blocks ran"
done
