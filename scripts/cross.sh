#!/usr/bin/env bash
# Builds a DIPC node for another architecture (default s390x: 64-bit, big-endian) on this
# x86-64 Debian 12 machine: dipcd, libdipc.so, dipc, the examples and the test programs,
# into BUILD_DIR/cross/ARCH (a tree like the native build: bin/, sbin/, lib/, examples/,
# tests/progs/), where `dipc cluster up --arch NODE=ARCH` finds them. docs/hetero.md.
#
# 1. Installs the cross compiler and qemu-user (Debian packages, when missing: deps.sh).
# 2. Unpacks Debian 12's ARCH packages of the libraries DIPC links (libsodium, spdlog, fmt,
#    toml++, libsystemd, libsmartcols, asio, CLI11) into BUILD_DIR/cross/ARCH-sysroot,
#    with apt-get in a private state directory: the machine's apt configuration, package
#    lists and dpkg database are not touched, and no foreign architecture is added. The
#    mirror is the one this machine's apt sources name for Debian 12 (bookworm).
# 3. Configures and builds with cmake/ARCH-linux-gnu.cmake.
# Repeated runs are quick: the library tree is kept while its package list is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-s390x}
case $arch in
  s390x) triplet=s390x-linux-gnu ;;
  *) echo "cross: unknown architecture '$arch' (known: s390x)" >&2; exit 2 ;;
esac
build=${BUILD_DIR:-build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
out=$build/cross/$arch
sysroot=$build/cross/$arch-sysroot

# The cross compiler and qemu-user are in scripts/deps.sh's list.
scripts/deps.sh

# The libraries and, for libsystemd, what it loads at run time. The C library and
# libstdc++ come with the cross compiler, so they are not unpacked here.
libs=(libsodium-dev libsodium23 libspdlog-dev libspdlog1.10 libfmt-dev libfmt9
      libtomlplusplus-dev libtomlplusplus3 libsystemd-dev libsystemd0 libsmartcols-dev
      libsmartcols1 libcap2 libgcrypt20 libgpg-error0 liblz4-1 liblzma5 libzstd1
      libasio-dev libcli11-dev)
stamp="$arch ${libs[*]}"
if [ "$(cat "$sysroot/.packages" 2>/dev/null)" != "$stamp" ]; then
  echo "cross: unpacking Debian 12 $arch libraries into $sysroot"
  rm -rf "$sysroot"
  apt_dir=$sysroot/.apt
  mkdir -p "$apt_dir"/lists/partial "$apt_dir"/cache/archives/partial "$apt_dir"/debs
  : >"$apt_dir/status"
  # Debian 12 entries of this machine's sources (deb822 .sources and one-line .list).
  {
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -e "$f" ] || continue
      awk -v arch="$arch" '
        function flush() {
          if (uris != "" && suites != "" && types ~ /(^| )deb( |$)/)
            for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
              if (s[j] ~ /^bookworm/) printf "deb [arch=%s] %s %s %s\n", arch, u[i], s[j], comps
          uris = suites = comps = types = ""
        }
        /^[ \t]*$/ { flush(); next }
        /^Types:/ { types = substr($0, 7) }
        /^URIs:/ { uris = substr($0, 6); nu = split(uris, u, " ") }
        /^Suites:/ { suites = substr($0, 8); ns = split(suites, s, " ") }
        /^Components:/ { comps = substr($0, 12) }
        END { flush() }' "$f"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true
  } | {
    awk -v arch="$arch" '$1 == "deb" && $2 !~ /^\[/ && $3 ~ /^bookworm/ {
        $1 = ""; printf "deb [arch=%s]%s\n", arch, $0 }
      /^deb \[arch=/ { print }'
  } | sort -u >"$apt_dir/sources.list"
  if [ ! -s "$apt_dir/sources.list" ]; then
    echo "cross: this machine's apt sources name no Debian 12 (bookworm) repository" >&2
    exit 1
  fi
  apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
            -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/status"
            -o "Dir::Cache=$apt_dir/cache" -o "APT::Architecture=$arch"
            -o "APT::Architectures=$arch" -o "Debug::NoLocking=1")
  apt-get "${apt_opts[@]}" -qq update
  (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download "${libs[@]}")
  for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
  # Some libraries unpack into /lib: merge it into /usr/lib, the one directory searched.
  if [ -d "$sysroot/lib" ]; then
    cp -a "$sysroot/lib/." "$sysroot/usr/lib/"
    rm -rf "$sysroot/lib"
  fi
  # Absolute symbolic links inside the tree (lib.so -> /lib/...) must point into it.
  find "$sysroot" -type l -lname '/*' | while read -r link; do
    ln -sfn "$sysroot$(readlink "$link")" "$link"
  done
  rm -rf "$apt_dir/lists" "$apt_dir/cache"
  echo "$stamp" >"$sysroot/.packages"
fi

cmake -S . -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/$triplet.cmake" -DDIPC_CROSS_SYSROOT="$sysroot" >/dev/null
ninja -C "$out"
