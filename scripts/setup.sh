#!/bin/sh
# Installs the Debian 12 packages mrun needs to build and test, then builds it into build/ (or $MRUN_BUILD).
# Idempotent: apt-get runs only when a package is missing. Run as root (or with sudo available).
set -eu
cd "$(dirname "$0")/.."

PKGS="build-essential cmake pkg-config git python3 \
 libnng-dev libmsgpack-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev libarchive-dev \
 libseccomp-dev libcmocka-dev libyaml-dev libjansson-dev bubblewrap curl clang libclang-rt-14-dev \
 procps openssl iproute2 util-linux python3-coverage python3-jsonschema"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "setup: installing:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

BUILD=${MRUN_BUILD:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${MRUN_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
echo "setup: built $BUILD/mrun"
