#!/usr/bin/env bash
# Installs the Debian 12 packages Ingot needs that are missing. Usage:
#   scripts/deps.sh build   # compilers, libraries
#   scripts/deps.sh test    # build + test frameworks and the real clients tests drive
#   scripts/deps.sh fuzz    # build + clang-14 and libFuzzer (scripts/fuzz)
# Runs `apt-get update` only when an install needs it. Needs root (or sudo).
set -euo pipefail

build_pkgs=(
  g++ cmake ninja-build pkg-config
  librocksdb-dev libssl-dev libsodium-dev libzstd-dev libxxhash-dev libboost-dev
  libprotobuf-dev protobuf-compiler nlohmann-json3-dev libcli11-dev libspdlog-dev
  libgrpc++-dev protobuf-compiler-grpc
)
test_pkgs=(
  libgtest-dev libgmock-dev libbenchmark-dev curl ccache zstd gcc make python3
  minisign signify-openbsd e2fsprogs clang-14 libclang-rt-14-dev openssl
  nix-bin # without its recommended nix-setup-systemd: tests run nix in a temp dir, no daemon
  dpkg-dev file # cpack -G DEB: dpkg-shlibdeps for Depends, file to find the binaries
  bazel-bootstrap # Bazel 4.2.3 and the JDK it runs on, for tests/integration/bazel.sh
  # BuildStream 1.6.8 and its sandbox, for tests/integration/buildstream.sh (and bench/bst). Its
  # recommends (git, ostree, python3-gi, bst-external) serve source kinds the test does not use;
  # at run time it also needs mount, umount, whoami (required packages) and libfuse2 (a
  # dependency of python3-buildstream).
  buildstream bubblewrap
  systemd # systemd-analyze checks the unit the .deb installs (deb.sh); without systemd-sysv, not init
  # tests/integration/mirror.sh: nginx serves the upstream apt repository (the test runs its own,
  # on a free port; Debian's service is never used), apt-ftparchive (apt-utils) makes its indexes
  nginx apt-utils
  lld # links the test binaries about 5x faster than GNU ld; a build without it uses GNU ld
)
fuzz_pkgs=(clang-14 libclang-rt-14-dev)

want=("${build_pkgs[@]}")
if [[ "${1:-build}" == "test" ]]; then
  want+=("${test_pkgs[@]}")
elif [[ "${1:-build}" == "fuzz" ]]; then
  want+=("${fuzz_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "deps: installing ${missing[*]}"
# A fresh machine has empty package lists: try as is, update and retry on failure.
if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/ingot-apt.log 2>&1; then
  "${sudo[@]}" apt-get update -q >>/tmp/ingot-apt.log 2>&1
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/ingot-apt.log 2>&1 || {
    tail -n 20 /tmp/ingot-apt.log >&2
    echo "deps: apt-get install failed (full log: /tmp/ingot-apt.log)" >&2
    exit 1
  }
fi
