#!/usr/bin/env bash
# Installs Ray into virtual environments of its own under target/peers/ (ignored by git), for
# peers/ray/cohort_ray.py:
#   peers/ray/setup.sh 0.6   Ray 0.6.0, the write-up's version, on Python 3.6
#   peers/ray/setup.sh 2     current Ray (2.x) on Python 3.9 or later
#   peers/ray/setup.sh       both
# Then run the peer with the environment's python, e.g.
#   target/peers/ray-0.6.0/bin/python peers/ray/cohort_ray.py workloads/files/streaming.toml --out out/ray
# Python 3.6 is looked for as $PYTHON36, then python3.6 on PATH, then under pyenv.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest="$root/target/peers"
mkdir -p "$dest"

find_python36() {
    local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}" p
    for p in "${PYTHON36:-}" python3.6 $(ls -d "$pyenv_root"/versions/3.6.*/bin/python3.6 2>/dev/null | sort -rV); do
        if [[ -n "$p" ]] && "$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 6))' 2>/dev/null; then
            echo "$p"; return
        fi
    done
    echo "error: no Python 3.6 (Ray 0.6.0's wheels are for Python 3.6 and older): set PYTHON36 or install 3.6 with pyenv" >&2
    exit 2
}

find_python3() {
    local p
    for p in "${PYTHON3:-}" python3.12 python3.11 python3.10 python3; do
        if [[ -n "$p" ]] && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
            command -v "$p"; return
        fi
    done
    echo "error: no Python 3.9 or later for current Ray: set PYTHON3" >&2
    exit 2
}

install_06() {
    local env="$dest/ray-0.6.0"
    if "$env/bin/python" -c 'import ray, toml; assert ray.__version__ == "0.6.0"' 2>/dev/null; then
        echo "Ray 0.6.0: $env (already installed)"; return
    fi
    rm -rf "$env"
    "$(find_python36)" -m venv "$env"
    "$env/bin/python" -m pip install -q "pip==21.3.1"
    # Ray 0.6 predates redis-py 3 and newer flatbuffers; numpy as of late 2018.
    "$env/bin/python" -m pip install -q "ray==0.6.0" "numpy==1.15.4" "redis<3" \
        "flatbuffers==1.10" "toml==0.10.2"
    echo "Ray 0.6.0: $env"
}

install_2() {
    local env="$dest/ray-2"
    if "$env/bin/python" -c 'import ray, numpy; assert ray.__version__.startswith("2.")' 2>/dev/null; then
        echo "Ray $("$env/bin/python" -c 'import ray; print(ray.__version__)'): $env (already installed)"
        return
    fi
    rm -rf "$env"
    "$(find_python3)" -m venv "$env"
    "$env/bin/python" -m pip install -q "ray>=2,<3" numpy
    echo "Ray $("$env/bin/python" -c 'import ray; print(ray.__version__)'): $env"
}

case "${1:-all}" in
    0.6) install_06 ;;
    2) install_2 ;;
    all) install_06; install_2 ;;
    *) echo "usage: $0 [0.6|2|all]" >&2; exit 2 ;;
esac
