#!/usr/bin/env bash
# Install everything the tests need (venv, Debian audio tools, Slurm, Chromium) and run them.
# Extra arguments go to pytest, e.g. `test/run.sh -k io -x`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
make -C "$root/tools" all slurm chromium
# shellcheck disable=SC1091
. "$root/tools/activate_python.sh"
cd "$root"
set +e
# test files run in parallel, one file to a worker (--dist loadfile: a file's fixtures are built
# once); MAL_TEST_JOBS=1 runs them one after another, in one process.
jobs=${MAL_TEST_JOBS:-auto}
if [ "$jobs" = 1 ]; then
    python -m pytest -q -p no:cacheprovider test "$@"
else
    python -m pytest -q -p no:cacheprovider -n "$jobs" --dist loadfile test "$@"
fi
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "test/run.sh: pytest collected no tests; failing" >&2
    exit 1
fi
exit "$rc"
