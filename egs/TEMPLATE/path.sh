# Sourced by run.sh / mal.sh: the mal virtual environment and Kaldi-style utils on PATH.
# MAIN_ROOT is found from this file's real location, so a recipe may link or copy it.
MAIN_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
. "${MAIN_ROOT}/tools/activate_python.sh" || return 1
export PATH="${PWD}/utils:${PATH}"
export LC_ALL=C
export PYTHONIOENCODING=UTF-8
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
