#!/usr/bin/env bash
# Installs what is missing, builds onair twice (release with -Werror, then
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs every test of each
# build through ctest: C unit tests, fuzz corpus replays and the black-box API
# suite (a real redis-server and the real binary).  Exits non-zero on any
# failure.
#
#   tests/run.sh            both builds
#   ONAIR_TEST_BUILDS=release tests/run.sh     one of: release, asan
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/deploy/install-deps.sh"

jobs=$(nproc 2>/dev/null || echo 2)
builds=${ONAIR_TEST_BUILDS:-"release asan"}
failed=0

run_build() {
    local name=$1 dir=$2
    shift 2
    echo "== ${name}: configure and build in ${dir}" >&2
    cmake -S "$root" -B "$dir" -DONAIR_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
    echo "== ${name}: ctest" >&2
    if ! (cd "$dir" && ctest --output-on-failure); then
        echo "== ${name}: FAILED" >&2
        failed=1
    fi
}

for b in $builds; do
    case "$b" in
    release) run_build release "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
    asan)
        # Leaks make the process exit non-zero, so the API suite's clean-exit
        # checks catch them too.
        export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
        export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
        run_build asan "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DONAIR_SANITIZE=ON
        ;;
    *) echo "unknown build '$b' (release, asan)" >&2; exit 2 ;;
    esac
done

if [ "$failed" -ne 0 ]; then
    echo "tests/run.sh: some tests failed" >&2
    exit 1
fi
echo "tests/run.sh: all tests passed" >&2
