#!/usr/bin/env bash
# Writes the man pages of `ingot` from the binary's own --help texts: OUTDIR/ingot.1.gz for
# the program and OUTDIR/ingot-COMMAND.1.gz for each subcommand, with its nested subcommands (such as
# `ingot release publish`) as sections of that page. Run by the build (packaging/CMakeLists.txt)
# after the binary links, so the pages never drift from the options the binary takes.
#   packaging/man.sh PATH_TO_INGOT OUTDIR
set -euo pipefail
ingot=${1:?usage: man.sh PATH_TO_INGOT OUTDIR}
out=${2:?usage: man.sh PATH_TO_INGOT OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)

# "ingot 0.1.0 (commit abc1234)" -> "ingot 0.1.0": the commit would make the pages differ on
# every commit for no reader's benefit.
version_line=$("$ingot" --version)
read -r _ version _ <<<"$version_line"
[[ -n $version ]] || { echo "man.sh: '$ingot --version' printed '$version_line'" >&2; exit 1; }

# help ARGS...: the parsed --help of `ingot ARGS...` (records: packaging/cli-help.awk).
help() { "$ingot" "$@" --help | awk -f "$here/cli-help.awk"; }

# roff TEXT: TEXT escaped for roff: backslashes printed as such, every '-' a minus sign (so
# that options copy and paste), and no line read as a request.
roff() {
  local s=${1//\\/\\e}
  s=${s//-/\\-}
  [[ $s == [.\']* ]] && s="\\&$s"
  printf '%s\n' "$s"
}

# entry NAME: an option's or positional's name, flags in bold and the value in italics:
# "-j,--jobs UINT" -> \fB\-j\fR, \fB\-\-jobs\fR \fIUINT\fR
entry() {
  local flags=${1%% *} value=
  [[ $1 == *" "* ]] && value=${1#* }
  flags=$(roff "$flags")
  flags="\\fB${flags//,/\\fR, \\fB}\\fR"
  if [[ -n $value ]]; then
    printf '%s \\fI%s\\fR\n' "$flags" "$(roff "$value")"
  else
    printf '%s\n' "$flags"
  fi
}

# body HEADING_MACRO ARGS...: synopsis, description, arguments and options of `ingot ARGS...`,
# then the same for each of its nested subcommands; HEADING_MACRO is .SH for the page's own
# command and .SS below it. The program's own page lists the commands, which have pages of
# their own.
body() {
  local level=$1
  shift
  local kind name desc
  local -a about=() subs=() sub_descs=() options=() positionals=()
  local usage=
  while IFS=$'\t' read -r kind name desc; do
    case $kind in
    about | text) about+=("$name") ;;
    usage) usage=$name ;;
    option) options+=("$name"$'\t'"$desc") ;;
    positional) positionals+=("$name"$'\t'"$desc") ;;
    subcommand)
      subs+=("$name")
      sub_descs+=("$desc")
      ;;
    esac
  done < <(help "$@")
  if [[ $level == .SH ]]; then
    echo ".SH SYNOPSIS"
  else
    echo ".SS $(roff "ingot $*")"
  fi
  printf '.B %s\n' "$(roff "${usage%% \[*}")"
  [[ $usage == *" ["* ]] && roff "[${usage#* \[}"
  echo ".br"
  [[ $level == .SH ]] && echo ".SH DESCRIPTION"
  local line
  for line in "${about[@]}"; do
    roff "$line"
    echo ".br"
  done
  local heading item
  for heading in ARGUMENTS OPTIONS; do
    local -a items=()
    if [[ $heading == ARGUMENTS ]]; then
      items=("${positionals[@]}")
    else
      items=("${options[@]}")
    fi
    [[ ${#items[@]} -gt 0 ]] || continue
    if [[ $level == .SH ]]; then echo ".SH $heading"; else echo ".PP"; echo "${heading,,}:"; fi
    for item in "${items[@]}"; do
      echo ".TP"
      entry "${item%%$'\t'*}"
      roff "${item#*$'\t'}"
    done
  done
  local i
  [[ ${#subs[@]} -gt 0 && $level == .SH ]] && echo ".SH COMMANDS"
  for i in "${!subs[@]}"; do
    if [[ $# -gt 0 ]]; then
      body .SS "$@" "${subs[$i]}"
    else # the program's page: each command has a page of its own
      echo ".TP"
      printf '.BR %s (1)\n' "$(roff "ingot-${subs[$i]}")"
      roff "${sub_descs[$i]}"
    fi
  done
}

# page FILE TITLE NAME_LINE ARGS...: one man page for `ingot ARGS...`.
page() {
  local file=$1 title=$2 name_line=$3
  shift 3
  {
    printf '.TH %s 1 "" "ingot %s" "Ingot Manual"\n' "${title^^}" "$version"
    echo ".SH NAME"
    roff "$name_line"
    body .SH "$@"
    echo ".SH SEE ALSO"
    if [[ $# -gt 0 ]]; then
      echo ".BR ingot (1)"
    else
      echo "The page of each command,"
      echo ".BR ingot\\-COMMAND (1)."
    fi
  } >"$file.tmp"
  mv "$file.tmp" "$file"
}

mkdir -p "$out"
# The subcommands, with their one-line descriptions, from `ingot --help`.
mapfile -t commands < <(help | awk -F'\t' '$1 == "subcommand" { print $2 "\t" $3 }')
[[ ${#commands[@]} -gt 0 ]] || { echo "man.sh: '$ingot --help' lists no subcommands" >&2; exit 1; }
summary=$(help | awk -F'\t' '$1 == "about" { print $2; exit }')
summary=${summary%%.*}
page "$out/ingot.1" ingot "ingot - ${summary#Ingot: }"
for c in "${commands[@]}"; do
  name=${c%%$'\t'*}
  page "$out/ingot-$name.1" "ingot-$name" "ingot-$name - ${c#*$'\t'}" "$name"
done
# Compressed as Debian policy asks (gzip -9n: no name or time stamp, so builds are repeatable).
gzip -9nf "$out"/*.1
