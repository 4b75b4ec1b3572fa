# The ccache test of bench/http/run; sourced by it, not run. A C project from make-c-project
# is built with `make -j` and CC="ccache gcc", with one server as ccache's remote storage:
#   cold: the server has none of the project's entries; every compile misses and is stored.
#   warm: the same sources, paths and flags, so the same keys; an empty local dir again;
#         every compile must be a remote hit.
# ccache runs with remote_only (ccache >= 4.6): it keeps no local cache, so every lookup is a
# request to the server and "warm" measures the server, not the local disk. Each build has
# its own CCACHE_DIR (only ccache's stats live there) and an empty CCACHE_CONFIGPATH, so no
# user or system ccache.conf changes what is measured. All builds run in the same directory:
# ccache hashes the working directory only with -g (hash_dir), but one path rules it out.
#
# Uses run's globals: work, here, token, main_port, main_url, main_pid, nginx_url,
# ccache_units, quiet_wait, clk, ingot_dead, R (an associative array), rows; and its
# functions log, use_ingot, server_pids, next_order.
# shellcheck shell=bash disable=SC2154,SC2004

ccache_project=""  # the generated project (make-c-project)
ccache_cc=""       # gcc itself, never a ccache masquerade link
ccache_plain_sec="" # the same build without ccache, for context

# ccache_prepare: generates the project. Run before the servers start, so that its sources
# are seconds old when ccache first sees them: ccache does not trust, in direct mode, an
# include file modified in the second the compile started.
ccache_prepare() {
  local c
  # The caller's CCACHE_* settings (CCACHE_DISABLE, CCACHE_PREFIX, ...) would change what is
  # measured; each build sets its own.
  unset "${!CCACHE_@}"
  # With /usr/lib/ccache on the PATH, "gcc" is ccache itself: the plain build would be cached
  # and the others would go through ccache twice.
  for c in $(type -ap gcc); do
    if [[ $(basename "$(readlink -f "$c")") != ccache ]]; then ccache_cc=$c; break; fi
  done
  [[ -n $ccache_cc ]] || bench_die "no gcc on the PATH other than ccache's links"
  ccache_project=$work/ccache/src
  "$here/make-c-project" "$ccache_project" "$ccache_units"
  log "generated a C project of $ccache_units translation units for the ccache test"
}

# ccache_stored SERVER -> $bytes: what SERVER holds under ccache's prefix (Ingot: the bytes of
# all its blobs, from /metrics; only this test writes to it while it runs). "" if unknown.
ccache_stored() {
  if [[ $1 == ingot ]]; then
    bytes=$(curl -sf -H "Authorization: Bearer $token" "$main_url/metrics" |
      awk '/^ingot_logical_bytes / {print $2}' || true)
  else
    # Before the first PUT, nginx has no ccache/ dir: 0 bytes.
    bytes=$({ find "$work/nginx/root/ccache" -type f -printf '%s\n' 2>/dev/null || true; } |
      awk '{s += $1} END {print s + 0}')
  fi
}

# The counters of `ccache --print-stats` that the checks and the progress lines use.
ccache_fields=(cache_miss direct_cache_hit preprocessed_cache_hit remote_storage_hit
  remote_storage_miss remote_storage_read_hit remote_storage_read_miss remote_storage_write
  remote_storage_error remote_storage_timeout local_storage_hit local_storage_write)

# ccache_build SERVER PHASE: one build of the project through ccache with SERVER as its
# remote storage; PHASE (cold or warm) names the row, ccache-PHASE. Sets R[SERVER,ROW,F] for
# F = ok, bad (failed checks), sec (wall clock of the whole make), cpu (the server's, % of
# one core), before, stored (bytes the server gained), hwm (Ingot), and each ccache_fields.
ccache_build() {
  local server=$1 row=ccache-$2 dir=$work/ccache/$1-$2 remote pids
  R[$server,$row,ok]=0
  R[$server,$row,bad]=0
  if [[ $server == ingot && $ingot_dead == 1 ]]; then return; fi
  if [[ $2 == warm && ${R[$server,ccache-cold,ok]:-0} != 1 ]]; then
    echo "!! $server $row: skipped, its cold build failed" >&2
    return
  fi
  if [[ $server == ingot ]]; then
    # ccache sends the URL's user:password as HTTP Basic; Ingot takes a token as the password.
    remote="http://bench:$token@127.0.0.1:$main_port/kv/ccache"
  else
    remote="$nginx_url/ccache"
  fi
  use_ingot "$row"
  pids=$(server_pids "$server")
  mkdir -p "$dir/cache"
  : >"$dir/ccache.conf"
  rm -rf "$ccache_project/obj" "$ccache_project/prog"
  local bytes b0 rc=0 t0 t1 c0 c1
  ccache_stored "$server"
  b0=$bytes
  bench_quiet "$quiet_wait"
  R[$server,$row,before]=$quiet_load
  proc_ticks $pids
  c0=$ticks
  t0=$EPOCHREALTIME
  CCACHE_DIR=$dir/cache CCACHE_CONFIGPATH=$dir/ccache.conf CCACHE_REMOTE_STORAGE=$remote \
    CCACHE_REMOTE_ONLY=true timeout 1800 make -C "$ccache_project" -s -j "$(nproc)" \
    CC="ccache $ccache_cc" LINK="$ccache_cc" >"$dir/make.log" 2>&1 || rc=$?
  t1=$EPOCHREALTIME
  proc_ticks $pids
  c1=$ticks
  ccache_stored "$server"
  if [[ -n $b0 && -n $bytes ]]; then R[$server,$row,stored]=$((bytes - b0)); fi
  if [[ $server == ingot ]]; then
    if ! kill -0 "$main_pid" 2>/dev/null; then
      ingot_dead=1
      echo "!! Ingot died during $row; its log:" >&2
      tail -n 30 "$work/ingot.log" >&2
    else
      R[ingot,$row,hwm]=$(awk '/^VmHWM:/ {print $2}' "/proc/$main_pid/status")
    fi
  fi
  R[$server,$row,sec]=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
  R[$server,$row,cpu]=$(awk -v a="$c0" -v b="$c1" -v hz="$clk" -v s="${R[$server,$row,sec]}" \
    'BEGIN {printf "%.0f", (b - a) / hz / s * 100}')
  CCACHE_DIR=$dir/cache CCACHE_CONFIGPATH=$dir/ccache.conf ccache --print-stats \
    >"$dir/stats" 2>&1 || true
  local f
  for f in "${ccache_fields[@]}"; do
    R[$server,$row,$f]=$(awk -v f="$f" '$1 == f {print $2}' "$dir/stats")
  done
  if [[ $rc != 0 ]]; then
    echo "!! $server $row: make exited with $rc; the end of its output:" >&2
    tail -n 15 "$dir/make.log" >&2
    return
  fi
  R[$server,$row,ok]=1
  ccache_check "$server" "$2"
  local counters=""
  for f in "${ccache_fields[@]}"; do counters+=" $f=${R[$server,$row,$f]:-?}"; done
  printf '   %-5s %-11s %6.1f s  cpu %s%% (%s%% just before)  stored %s bytes\n      %s\n' \
    "$server" "$row" "${R[$server,$row,sec]}" "${R[$server,$row,cpu]}" \
    "${R[$server,$row,before]}" "${R[$server,$row,stored]:-?}" "${counters# }" >&2
}

# ccache_check SERVER PHASE: the build's counters must show a truly cold build (every compile
# a remote miss, then stored) or a fully warm one (every compile a remote hit, nothing
# compiled, nothing written), and no remote error or timeout. Otherwise the times compare
# different work, so the row is marked (!) and the bench fails.
ccache_check() {
  local server=$1 row=ccache-$2 n=$ccache_units want f got problems=()
  local -A expect
  if [[ $2 == cold ]]; then
    expect=([cache_miss]=$n [remote_storage_hit]=0 [remote_storage_miss]=$n)
  else
    expect=([cache_miss]=0 [remote_storage_hit]=$n [remote_storage_miss]=0
      [remote_storage_write]=0)
  fi
  expect[remote_storage_error]=0
  expect[remote_storage_timeout]=0
  for f in "${!expect[@]}"; do
    want=${expect[$f]}
    got=${R[$server,$row,$f]:-}
    [[ $got == "$want" ]] || problems+=("$f=${got:-missing} (expected $want)")
  done
  if [[ $2 == cold ]] && ((${R[$server,$row,remote_storage_write]:-0} < n)); then
    problems+=("remote_storage_write=${R[$server,$row,remote_storage_write]:-missing} (expected >= $n)")
  fi
  R[$server,$row,bad]=${#problems[@]}
  if ((${#problems[@]} > 0)); then
    echo "!! $server $row: not a clean $2 build: ${problems[*]}" >&2
  fi
}

# ccache_test: the plain build for context, then cold and warm against each server, which
# server goes first alternating as for the wrk tests. Adds the rows ccache-cold, ccache-warm.
ccache_test() {
  local phase server t0 t1
  log "ccache: building the project once without ccache (make -j$(nproc))"
  rm -rf "$ccache_project/obj" "$ccache_project/prog"
  bench_quiet "$quiet_wait"
  t0=$EPOCHREALTIME
  timeout 1800 make -C "$ccache_project" -s -j "$(nproc)" CC="$ccache_cc" LINK="$ccache_cc" \
    >"$work/ccache/plain.log" 2>&1 || {
    tail -n 15 "$work/ccache/plain.log" >&2
    bench_die "the generated C project does not build (log: $work/ccache/plain.log)"
  }
  t1=$EPOCHREALTIME
  ccache_plain_sec=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
  log "ccache: plain build ${ccache_plain_sec} s; now cold and warm builds against each server"
  for phase in cold warm; do
    next_order
    for server in "${order[@]}"; do ccache_build "$server" "$phase"; done
    rows+=("ccache-$phase")
  done
}
