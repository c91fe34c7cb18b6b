#!/bin/sh
# Sets up, builds and runs the whole test suite: every ctest (unit, sandbox, lint) in build/, then the unit
# tests again under AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
MRUN_BUILD=build-asan MRUN_CMAKE_ARGS="-DMRUN_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug" ./scripts/setup.sh

status=0
echo "== all tests =="
ctest --test-dir build --output-on-failure -j2 --timeout 300 || status=1
echo "== unit tests under ASan+UBSan =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j2 -L unit --timeout 300 || status=1
exit $status
