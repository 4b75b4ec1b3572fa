# Shell helpers shared by the end-to-end benchmarks (bench/http/run, bench/tree/run); sourced,
# not run. The caller sets `bench_name` (used in error messages) and `repo` first. Functions
# that start something set globals, named in their comment; none of them sleeps longer than
# it must.

bench_log() { printf "== [%3ds] %s\n" "$SECONDS" "$*" >&2; }
bench_die() { echo "$bench_name: $*" >&2; exit 1; }

# bench_install CMD=PACKAGE|PACKAGE...: installs Ingot's build dependencies (scripts/deps.sh),
# then the Debian package of each CMD that is not on the PATH and each bare PACKAGE that dpkg
# does not list as installed. A failed install is retried once after `apt-get update`. Then
# checks that nginx has the WebDAV module (PUT needs it).
bench_install() {
  "$repo/scripts/deps.sh" build
  local pair missing=() sudo=()
  for pair in "$@"; do
    if [[ $pair == *=* ]]; then
      command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
    elif ! dpkg-query -W -f='${Status}' "$pair" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pair")
    fi
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    [[ $(id -u) -ne 0 ]] && sudo=(sudo)
    bench_log "installing ${missing[*]}"
    # policy-rc.d (where present) keeps Debian's nginx service from starting on port 80; we
    # never use that service either way.
    export DEBIAN_FRONTEND=noninteractive
    local apt_log=/tmp/ingot-bench-apt.log
    if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >$apt_log 2>&1; then
      "${sudo[@]}" apt-get update -q >>$apt_log 2>&1
      "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >>$apt_log 2>&1 || {
        tail -n 20 $apt_log >&2
        bench_die "apt-get install failed (log: $apt_log)"
      }
    fi
  fi
  if command -v nginx >/dev/null && ! nginx -V 2>&1 | grep -q -- --with-http_dav_module; then
    bench_die "$(command -v nginx) has no WebDAV module (http_dav_module); PUT needs it"
  fi
}

# bench_build BUILD_DIR: configures and builds the `ingot` tool in Release; sets bench_ingot.
# -Wno-error=restrict: GCC 12 at -O3 reports a false -Wrestrict inside libstdc++'s
# char_traits (std::string concatenation in server/access_log.cpp), which -Werror turns into
# a failed Release build. It stays a warning here; the code generated is the same.
bench_build() {
  local build=$1
  bench_log "building Ingot (Release) in $build"
  mkdir -p "$build"
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DINGOT_BUILD_TESTS=OFF \
    -DINGOT_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS=-Wno-error=restrict >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    exit 1
  }
  cmake --build "$build" -j "$(nproc)" --target ingot >"$build/build.log" 2>&1 || {
    grep -E 'error|FAILED' "$build/build.log" | head -n 20 >&2
    bench_die "build failed (log: $build/build.log)"
  }
  bench_ingot=$build/tools/ingot
}

# bench_make_work PARENT FALLBACK PREFIX: makes a temp dir under PARENT (default $TMPDIR or
# /tmp), or under FALLBACK when that is a tmpfs: a tmpfs would hide the fsync and
# file-creation costs that are much of what storing costs. Sets bench_work.
bench_make_work() {
  local parent=$1
  if [[ -z $parent ]]; then
    parent=${TMPDIR:-/tmp}
    [[ $(stat -f -c %T "$parent") == tmpfs ]] && parent=$2
  fi
  mkdir -p "$parent"
  bench_work=$(mktemp -d "$parent/$3.XXXXXX")
  bench_log "temp dir $bench_work ($(stat -f -c %T "$bench_work"))"
}

# bench_start_ingot LOG SERVE_OPTION...: starts `ingot serve --listen 127.0.0.1:0 ...` and
# returns once it has printed its first line, read through a fifo (no polling); the rest of
# its stderr is appended to LOG. Sets ingot_pid, ingot_drain_pid, ingot_port and ingot_url.
bench_start_ingot() {
  local log=$1 fifo=$1.fifo fd line=""
  shift
  rm -f "$fifo"
  mkfifo "$fifo"
  "$bench_ingot" serve --listen 127.0.0.1:0 "$@" 2>"$fifo" &
  ingot_pid=$!
  exec {fd}<"$fifo"
  IFS= read -r -t 60 -u "$fd" line || true
  printf '%s\n' "$line" >"$log"
  cat <&"$fd" >>"$log" &
  ingot_drain_pid=$!
  exec {fd}<&-
  rm -f "$fifo"
  [[ $line =~ ^ingot:\ serving\ .*\ on\ http://127\.0\.0\.1:([0-9]+)/$ ]] ||
    { cat "$log" >&2; bench_die "Ingot did not start"; }
  ingot_port=${BASH_REMATCH[1]}
  ingot_url=http://127.0.0.1:$ingot_port
}

# bench_start_nginx CONF_IN DIR: starts nginx from bench/http/nginx.conf.in-style CONF_IN
# (@DIR@, @PORT@, @USER@) with its prefix in DIR/nginx, on a free loopback port. Sets
# nginx_pid, nginx_port and nginx_url.
bench_start_nginx() {
  local conf_in=$1 dir=$2 user_line="" port
  [[ $(id -u) -eq 0 ]] && user_line="user root;"
  mkdir -p "$dir/nginx/root" "$dir/nginx/body"
  nginx_port=""
  for _ in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 30000))
    [[ -z $(ss -Htln "sport = :$port" 2>/dev/null) ]] || continue
    sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$port#g" -e "s#@USER@#$user_line#g" \
      "$conf_in" >"$dir/nginx/nginx.conf"
    nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log" \
      2>>"$dir/nginx/stderr.log" &
    nginx_pid=$!
    for _ in $(seq 100); do
      if curl -s -o /dev/null "http://127.0.0.1:$port/"; then nginx_port=$port; break; fi
      kill -0 "$nginx_pid" 2>/dev/null || break
      sleep 0.05
    done
    [[ -n $nginx_port ]] && break
    kill "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
    nginx_pid=""
  done
  [[ -n $nginx_port ]] || {
    cat "$dir/nginx/error.log" "$dir/nginx/stderr.log" >&2 2>/dev/null
    bench_die "nginx did not start"
  }
  nginx_url=http://127.0.0.1:$nginx_port
}

# bench_stop PID...: SIGTERM, up to 15 s to exit, then SIGKILL; empty arguments are skipped.
bench_stop() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for _ in $(seq 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

# These read /proc with shell builtins only and set globals: forking costs milliseconds on a
# loaded 2-core machine, and they run inside measured windows.
proc_ticks() { # pid... -> $ticks: utime+stime of those processes (all their threads)
  ticks=0
  local pid line a
  for pid in "$@"; do
    line=""
    read -r line 2>/dev/null <"/proc/$pid/stat" || true
    [[ -n $line ]] || continue
    line=${line##*) }
    read -r -a a <<<"$line"
    ticks=$((ticks + a[11] + a[12]))
  done
}
machine_ticks() { # -> $busy and $total: jiffies over all cores since boot
  local _cpu u n s i w q sq st
  read -r _cpu u n s i w q sq st _ </proc/stat
  busy=$((u + n + s + q + sq + st))
  total=$((busy + i + w))
}

# bench_quiet WAIT: `sync` (so that one run's dirty pages are not written back during the
# next), then waits up to WAIT seconds for the machine to go quiet: under 15% of one core
# busy over 1 s. Sets quiet_load to the last 1 s figure (% of one core).
bench_quiet() {
  local wait=$1 waited=0 b0 t0
  sync
  while :; do
    machine_ticks; b0=$busy; t0=$total
    sleep 1
    machine_ticks
    quiet_load=$(( (busy - b0) * 100 * $(nproc) / (total - t0 > 0 ? total - t0 : 1) ))
    ((quiet_load < 15 || waited >= wait)) && break
    waited=$((waited + 1))
  done
}
