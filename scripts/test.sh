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
echo "== libFuzzer smoke: every fuzz target, ${MRUN_FUZZ_SECONDS:-5} s each, from its corpus =="
if command -v clang >/dev/null 2>&1; then
    CC=clang cmake -S . -B build-fuzz -DMRUN_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
    targets=$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$/_libfuzzer/')
    cmake --build build-fuzz -j"$(nproc)" --target $targets >/dev/null || status=1
    fuzz_failed=0
    fuzz_passed=0
    for f in build-fuzz/tests/fuzz/*_libfuzzer; do
        name=$(basename "$f" _libfuzzer)
        corpus=tests/fuzz/corpus/${name#fuzz_}
        work=$(mktemp -d)
        cp -r "$corpus"/. "$work"/ 2>/dev/null
        if "$f" -max_total_time="${MRUN_FUZZ_SECONDS:-5}" -timeout=10 -rss_limit_mb=2048 "$work" >"$work.log" 2>&1; then
            fuzz_passed=$((fuzz_passed + 1))
            echo "fuzz $name: ok ($(grep -o 'Done [0-9]* runs' "$work.log" | head -1))"
        else
            fuzz_failed=$((fuzz_failed + 1))
            echo "fuzz $name: FAILED"
            tail -30 "$work.log"
        fi
        rm -rf "$work" "$work.log"
    done
    echo "fuzz: $fuzz_passed passed, $fuzz_failed failed"
    [ "$fuzz_failed" = 0 ] || status=1
else
    echo "clang is missing: the libFuzzer smoke did not run"
    status=1
fi
exit $status
