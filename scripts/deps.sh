#!/usr/bin/env bash
# Installs the Debian 12 packages DIPC needs to build, test and run its demo.
# Runs apt-get only when something is missing, so repeated runs are quick.
# With --bench it also installs what the benchmarks compare with and draw with (bench/:
# ZeroMQ, Open MPI, gnuplot, perf); the build and the tests do not need them.
set -euo pipefail
pkgs=(cmake ninja-build g++ gcc pkg-config make
      libasio-dev libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev
      libgtest-dev libgmock-dev libbenchmark-dev libsodium-dev libsmartcols-dev libsystemd-dev
      clang iproute2 util-linux procps coreutils
      perl python3 python3-sysv-ipc  # the Python and Perl examples and their tests
      gdb)  # tests that stop a program at a chosen instruction (conn_race.sh)
if [[ ${1:-} == --bench ]]; then
  pkgs+=(libzmq3-dev libopenmpi-dev openmpi-bin gnuplot-nox linux-perf)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: run as root (or with sudo) to install packages" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
