#!/usr/bin/env bash
# Installing Ingot: `ingot --version` and `ingot version` name the version and the commit;
# `cmake --install --prefix P` puts the binary, a man page per subcommand (rendered by man
# without warnings), bash completion that completes, and a hardened systemd unit naming P's
# binary; then, as root, `cpack -G DEB` makes a .deb with the right fields and files, `dpkg -i`
# installs it, the installed binary prints the same version, `man -w` finds its pages,
# `systemd-analyze verify` finds no problem with its unit (the installed one and P's),
# `systemd-analyze security --offline` rates it (printed, not asserted), and it serves a
# put/get round trip on a temp data dir; `dpkg -r` and `dpkg --purge` leave nothing behind.
# Exits 77 (skipped) when not root or without dpkg, and only then: it installs into the real
# system, which CI does on a throwaway machine. The build dir is $INGOT_BUILD_DIR (set by
# CMake), else the one holding the binary.
source "$(dirname "$0")/lib.sh"

BUILD=${INGOT_BUILD_DIR:-$(cd "$(dirname "$INGOT")/.." && pwd)}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
[[ -f $BUILD/CPackConfig.cmake ]] || fail "$BUILD has no CPackConfig.cmake: set INGOT_BUILD_DIR to the build dir"

step "ingot --version and ingot version print the version and the commit"
BUILT_VERSION=$("$INGOT" --version) || fail "$INGOT --version exited $?"
[[ $BUILT_VERSION =~ ^ingot\ ([0-9]+\.[0-9]+\.[0-9]+)\ \(commit\ ([0-9a-f]{7,}|unknown)\)$ ]] ||
  fail "ingot --version printed '$BUILT_VERSION', expected 'ingot X.Y.Z (commit abc1234)'"
VERSION=${BASH_REMATCH[1]}
COMMIT=${BASH_REMATCH[2]}
if [[ $(git -C "$SRC" rev-parse --show-toplevel 2>/dev/null) == "$SRC" ]]; then
  [[ $COMMIT != unknown ]] || fail "built from the git checkout $SRC, yet --version says commit unknown"
  git -C "$SRC" cat-file -e "$COMMIT^{commit}" 2>/dev/null ||
    fail "--version names commit $COMMIT, which $SRC does not have"
fi
ok "$BUILT_VERSION"
cli version version
expect_rc 0 version
[[ $(cat "$TMP/version.out") == "$BUILT_VERSION" ]] ||
  fail "ingot version printed '$(cat "$TMP/version.out")', ingot --version '$BUILT_VERSION'"
ok "ingot version prints the same"

# The subcommands, from the binary's help (read here without packaging/cli-help.awk, which
# the generators use, so that a fault there cannot hide from this test).
mapfile -t COMMANDS < <("$INGOT" --help | awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
[[ ${#COMMANDS[@]} -ge 10 ]] || fail "ingot --help lists ${#COMMANDS[@]} subcommands: ${COMMANDS[*]}"

step "cmake --install --prefix P puts the binary, man pages, completion and the unit in P"
P="$TMP/prefix"
cmake --install "$BUILD" --prefix "$P" >"$TMP/install.log" 2>&1 ||
  fail "cmake --install exited $?: $(tail -n 5 "$TMP/install.log")"
[[ -x $P/bin/ingot ]] || fail "no executable $P/bin/ingot"
[[ $("$P/bin/ingot" --version) == "$BUILT_VERSION" ]] || fail "$P/bin/ingot --version differs from the build's"
ok "bin/ingot"
MAN_CMD=$(command -v man || true)
for page in ingot "${COMMANDS[@]/#/ingot-}"; do
  file="$P/share/man/man1/$page.1.gz"
  [[ -f $file ]] || fail "no man page $file"
  zcat "$file" | grep -q "^\.TH ${page^^} 1" || fail "$file has no .TH ${page^^} 1 header"
  if [[ -n $MAN_CMD ]]; then
    man --warnings -l "$file" >"$TMP/man.out" 2>"$TMP/man.err" || fail "man -l $file exited $?"
    [[ ! -s $TMP/man.err ]] || fail "man -l $file warns: $(head -c 400 "$TMP/man.err")"
  fi
done
ok "a man page per subcommand: ingot.1 ${COMMANDS[*]/#/ingot-}"
if [[ -n $MAN_CMD ]]; then
  man -l "$P/share/man/man1/ingot-serve.1.gz" >"$TMP/serve.man" 2>&1
  for want in "ingot serve [OPTIONS]" "--listen TEXT=127.0.0.1:8080" "--max-size TEXT" "--data TEXT"; do
    grep -qF -- "$want" "$TMP/serve.man" || fail "man ingot-serve does not show '$want'"
  done
  man -l "$P/share/man/man1/ingot-release.1.gz" >"$TMP/release.man" 2>&1
  for want in "ingot release publish" "--project TEXT REQUIRED" "ingot release verify"; do
    grep -qF -- "$want" "$TMP/release.man" || fail "man ingot-release does not show '$want'"
  done
  ok "man ingot-serve shows serve's options; man ingot-release shows release publish's"
fi

COMPLETION="$P/share/bash-completion/completions/ingot"
[[ -f $COMPLETION ]] || fail "no bash completion $COMPLETION"
# complete WORDS...: what the completion offers for the last word (bash, as a shell would call it).
complete_words() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _ingot
           printf "%s\n" "${COMPREPLY[*]}"' _ "$COMPLETION" "$@"
}
expect_completion() {
  local want=$1 got
  shift
  got=$(complete_words "$@") || fail "bash completion of '$*' failed"
  [[ $got == "$want" ]] || fail "bash completion of '$*' offers '$got', expected '$want'"
  ok "completes '$*' -> '$want'"
}
expect_completion "serve" ingot se
expect_completion "push-tree pull-tree put" ingot p
expect_completion "--compression" ingot serve --comp
expect_completion "auto off" ingot serve --compression ""
expect_completion "publish" ingot release pub
expect_completion "--project" ingot release publish --server http://x --proj

UNIT="$P/lib/systemd/system/ingot.service"
[[ -f $UNIT ]] || fail "no systemd unit $UNIT"
for want in "ExecStart=$P/bin/ingot serve --data /var/lib/ingot" DynamicUser=yes StateDirectory=ingot \
  ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes WantedBy=multi-user.target \
  'ExecReload=/bin/kill -HUP $MAINPID'; do
  grep -qxF "$want" "$UNIT" || fail "$UNIT has no line '$want'"
done
ok "the unit runs $P/bin/ingot serve --data /var/lib/ingot, hardened"

# verify_unit FILE [OPTIONS...]: `systemd-analyze verify` reports nothing about FILE. It exits 0
# on an unknown key or a value it cannot parse (it warns and ignores the line, as systemd
# would), so what it prints is checked too, not only its exit status.
verify_unit() {
  local unit=$1
  shift
  systemd-analyze verify "$@" "$unit" >"$TMP/verify.log" 2>&1 ||
    fail "systemd-analyze verify rejects $unit: $(head -c 800 "$TMP/verify.log")"
  [[ ! -s $TMP/verify.log ]] || fail "systemd-analyze verify warns about $unit: $(head -c 800 "$TMP/verify.log")"
}
SYSTEMD_ANALYZE=$(command -v systemd-analyze || true)
if [[ -n $SYSTEMD_ANALYZE ]]; then
  verify_unit "$UNIT" --man=no # man looks for the unit's man: pages in the system, not in P
  ok "systemd-analyze verify: no problems with $UNIT"
else
  echo "   note: systemd-analyze is not installed (Debian: systemd): the units are not verified"
fi

[[ $(id -u) -eq 0 ]] || skip "installing the .deb needs root (running as uid $(id -u))"
for tool in dpkg dpkg-deb dpkg-query; do
  command -v "$tool" >/dev/null || skip "$tool is not installed: not a Debian system"
done
command -v cpack >/dev/null || fail "cpack is needed (Debian: cmake)"
command -v dpkg-shlibdeps >/dev/null || fail "dpkg-shlibdeps is needed (scripts/deps.sh test installs dpkg-dev)"
command -v file >/dev/null || fail "file is needed by cpack's DEB generator (scripts/deps.sh test installs it)"

package_status() { dpkg-query -W -f='${Status}' ingot 2>/dev/null || true; }
if [[ $(package_status) != "" && $(package_status) != *not-installed ]]; then
  fail "package ingot is already on this system ($(package_status)); this test installs and removes it: run it where it is not (dpkg --purge ingot)"
fi
[[ ! -e /usr/bin/ingot ]] || fail "/usr/bin/ingot exists, not from the package; this test would overwrite it"

step "cpack -G DEB makes the .deb"
(cd "$TMP" && cpack -G DEB -B "$TMP/pkg" --config "$BUILD/CPackConfig.cmake") >"$TMP/cpack.log" 2>&1 ||
  fail "cpack exited $?: $(tail -n 5 "$TMP/cpack.log")"
DEBS=("$TMP"/pkg/ingot_*.deb)
[[ ${#DEBS[@]} -eq 1 && -f ${DEBS[0]} ]] || fail "cpack made no single ingot_*.deb: $(ls "$TMP/pkg")"
DEB=${DEBS[0]}
field() { dpkg-deb -f "$DEB" "$1"; }
[[ $(field Package) == ingot ]] || fail "Package: $(field Package)"
[[ $(field Version) == "$VERSION" ]] || fail "Version: $(field Version), expected $VERSION"
[[ $(field Maintainer) =~ ^[^\<]+\ \<[^@\>]+@[^\>]+\>$ ]] || fail "Maintainer: '$(field Maintainer)'"
[[ $(field Description) == "Content-addressed artifact cache and signed binary store"* ]] ||
  fail "Description: $(field Description)"
DEPENDS=$(field Depends)
# RocksDB is linked statically (Debian's CMake config), so its own libraries are named instead.
tr ',' '\n' <<<"$DEPENDS" | awk '{ print $1 }' >"$TMP/depends"
for lib in libsodium23 libssl3 libzstd1 libprotobuf32 libxxhash0 libstdc++6 libc6; do
  grep -qxF "$lib" "$TMP/depends" || fail "Depends lacks $lib: $DEPENDS"
done
ok "ingot $VERSION, Depends: $DEPENDS"
dpkg-deb -c "$DEB" | awk '{ print $6 }' >"$TMP/contents"
for want in ./usr/bin/ingot ./usr/lib/systemd/system/ingot.service ./usr/share/man/man1/ingot-serve.1.gz \
  ./usr/share/man/man1/ingot.1.gz ./usr/share/bash-completion/completions/ingot; do
  grep -qxF "$want" "$TMP/contents" || fail "the .deb lacks $want"
done
ok "the .deb holds the binary, the unit, the man pages and the completion"

# dpkg refuses to run twice at once; a second copy of this test (another build dir) waits here
# instead of failing. The lock is on a directory that exists anyway, so nothing is left behind.
exec {dpkg_lock}</var/lib/dpkg
flock -w 600 "$dpkg_lock" || fail "waited 600 s for another run of this test to finish with dpkg"
_purge_package() {
  if [[ $(package_status) != "" && $(package_status) != *not-installed ]]; then
    dpkg --purge ingot >>"$TMP/dpkg.log" 2>&1 || echo "WARNING: dpkg --purge ingot failed; run it by hand" >&2
  fi
}
_CLEANUP_HOOKS+=(_purge_package)

step "dpkg -i installs it"
dpkg -i "$DEB" >"$TMP/dpkg.log" 2>&1 || fail "dpkg -i exited $?: $(tail -n 8 "$TMP/dpkg.log")"
[[ $(package_status) == "install ok installed" ]] || fail "after dpkg -i the package is '$(package_status)'"
ok "$(package_status)"
[[ $(/usr/bin/ingot --version) == "$BUILT_VERSION" ]] ||
  fail "/usr/bin/ingot --version printed '$(/usr/bin/ingot --version)', expected '$BUILT_VERSION'"
ok "/usr/bin/ingot --version: $BUILT_VERSION"
if [[ -n $MAN_CMD ]]; then
  where=$(man -w ingot-serve 2>&1) || fail "man -w ingot-serve: $where"
  [[ $where == /usr/share/man/man1/ingot-serve.1.gz ]] || fail "man -w ingot-serve found '$where'"
  ok "man -w ingot-serve: $where"
else
  [[ -f /usr/share/man/man1/ingot-serve.1.gz ]] || fail "no /usr/share/man/man1/ingot-serve.1.gz"
  ok "/usr/share/man/man1/ingot-serve.1.gz is there (man is not installed)"
fi
grep -qxF "ExecStart=/usr/bin/ingot serve --data /var/lib/ingot" /usr/lib/systemd/system/ingot.service ||
  fail "the installed unit does not run /usr/bin/ingot: $(grep ExecStart /usr/lib/systemd/system/ingot.service)"
if [[ -n $SYSTEMD_ANALYZE ]]; then
  if [[ -n $MAN_CMD ]]; then
    verify_unit /usr/lib/systemd/system/ingot.service --man=yes # its Documentation= pages are there
    ok "systemd-analyze verify: no problems with /usr/lib/systemd/system/ingot.service, its man: pages found"
  else
    verify_unit /usr/lib/systemd/system/ingot.service --man=no
    ok "systemd-analyze verify: no problems with /usr/lib/systemd/system/ingot.service (man is not installed)"
  fi
  # How exposed the service is, on systemd's 0 (locked down) to 10 scale: shown, not asserted,
  # since each systemd release weighs the settings anew.
  systemd-analyze security --offline=yes /usr/lib/systemd/system/ingot.service >"$TMP/security.log" 2>&1 ||
    fail "systemd-analyze security --offline=yes exited $?: $(tail -n 5 "$TMP/security.log")"
  exposure=$(grep -o "Overall exposure level for ingot.service: [0-9.]* [A-Z]*" "$TMP/security.log") ||
    fail "systemd-analyze security printed no overall exposure: $(tail -n 5 "$TMP/security.log")"
  ok "systemd-analyze security: $exposure"
fi

step "the installed binary serves a put/get round trip"
INGOT=/usr/bin/ingot
start_server "$TMP/data"
token=$(token_create "$TMP/data" read,write deb-test) || fail "/usr/bin/ingot token create failed"
random_file "$TMP/blob" 200000
cli put put --server "$URL" --token "$token" "$TMP/blob"
expect_rc 0 put
read -r hex size _ <"$TMP/put.out"
[[ $hex == "$(sha256 "$TMP/blob")" && $size == 200000 ]] || fail "put printed '$(cat "$TMP/put.out")'"
ok "put: $hex $size"
cli get get --server "$URL" "$hex/$size" -o "$TMP/got"
expect_rc 0 get
cmp -s "$TMP/blob" "$TMP/got" || fail "get $hex/$size wrote other bytes than were put"
ok "get: the same bytes"
expect 200 GET "/cas/$hex"
expect_body_file "$TMP/blob"
stop_server

step "dpkg -r removes it; dpkg --purge leaves nothing"
dpkg -r ingot >>"$TMP/dpkg.log" 2>&1 || fail "dpkg -r ingot exited $?: $(tail -n 8 "$TMP/dpkg.log")"
for gone in /usr/bin/ingot /usr/lib/systemd/system/ingot.service /usr/share/man/man1/ingot-serve.1.gz \
  /usr/share/bash-completion/completions/ingot; do
  [[ ! -e $gone ]] || fail "dpkg -r left $gone"
done
ok "dpkg -r: binary, unit, man pages and completion gone"
dpkg --purge ingot >>"$TMP/dpkg.log" 2>&1 || fail "dpkg --purge ingot exited $?: $(tail -n 8 "$TMP/dpkg.log")"
[[ $(package_status) == "" || $(package_status) == *not-installed ]] ||
  fail "after dpkg --purge the package is '$(package_status)'"
ok "dpkg --purge: the package is gone"
