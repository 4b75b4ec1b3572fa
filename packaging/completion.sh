#!/usr/bin/env bash
# Writes bash completion for `ingot` from the binary's own --help texts: its subcommands (at
# every depth), each one's options, which options take a value, and the choices CLI11 lists
# for some (`--compression TEXT:{auto,off}`). Run by the build (packaging/CMakeLists.txt).
#   packaging/completion.sh PATH_TO_INGOT OUTFILE
set -euo pipefail
ingot=${1:?usage: completion.sh PATH_TO_INGOT OUTFILE}
out=${2:?usage: completion.sh PATH_TO_INGOT OUTFILE}
here=$(cd "$(dirname "$0")" && pwd)

help() { "$ingot" "$@" --help | awk -f "$here/cli-help.awk"; }

# Entries of the arrays written below, keyed by the command typed so far ("ingot release").
commands=()  # '["ingot"]="version serve …"'
options=()   # '["ingot serve"]="-h --help --data …"'
values=()    # '["ingot serve|--compression"]="auto off"' ("" for any word: files are offered)

# walk ARGS...: records the subcommands and options of `ingot ARGS...`, then its subcommands'.
walk() {
  local path="ingot${*:+ $*}" kind name flag
  local -a subs=() opts=() flags=()
  while IFS=$'\t' read -r kind name _; do
    case $kind in
    subcommand) subs+=("$name") ;;
    option)
      IFS=, read -ra flags <<<"${name%% *}"
      opts+=("${flags[@]}")
      if [[ $name == *" "* ]]; then
        local choices=
        [[ $name =~ \{([^}]*)\} ]] && choices=${BASH_REMATCH[1]//,/ }
        for flag in "${flags[@]}"; do
          values+=("[\"${path}|${flag}\"]=\"${choices}\"")
        done
      fi
      ;;
    esac
  done < <(help "$@")
  options+=("[\"${path}\"]=\"${opts[*]}\"")
  if [[ ${#subs[@]} -gt 0 ]]; then
    commands+=("[\"${path}\"]=\"${subs[*]}\"")
    local s
    for s in "${subs[@]}"; do
      walk "$@" "$s"
    done
  fi
}
walk
[[ ${#commands[@]} -gt 0 ]] || { echo "completion.sh: '$ingot --help' lists no subcommands" >&2; exit 1; }

{
  echo "# bash completion for ingot; generated from \`ingot --help\` by packaging/completion.sh."
  echo "# Keys are the command typed so far (\"ingot\", \"ingot release publish\")."
  printf 'declare -gA _ingot_commands=(\n'
  printf '  %s\n' "${commands[@]}"
  printf ')\ndeclare -gA _ingot_options=(\n'
  printf '  %s\n' "${options[@]}"
  printf ')\n# Options that take a value: the choices, or "" for any (files are offered).\n'
  printf 'declare -gA _ingot_values=(\n'
  printf '  %s\n' "${values[@]}"
  printf ')\n'
  cat <<'BODY'

_ingot() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local path=ingot word i
  # The subcommands typed so far, skipping options and the values they take.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ -n ${_ingot_values["$path|$word"]+set} ]]; then
      ((i++))
    elif [[ " ${_ingot_commands["$path"]-} " == *" $word "* ]]; then
      path="$path $word"
    fi
  done
  COMPREPLY=()
  if [[ -n ${_ingot_values["$path|$prev"]+set} ]]; then
    if [[ -n ${_ingot_values["$path|$prev"]} ]]; then
      mapfile -t COMPREPLY < <(compgen -W "${_ingot_values["$path|$prev"]}" -- "$cur")
    else
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
  elif [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${_ingot_options["$path"]-}" -- "$cur")
  elif [[ -n ${_ingot_commands["$path"]-} ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${_ingot_commands["$path"]}" -- "$cur")
  else
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
}
complete -F _ingot ingot
BODY
} >"$out.tmp"
mv "$out.tmp" "$out"
