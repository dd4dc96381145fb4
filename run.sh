#!/usr/bin/env bash
# pvatoms: set everything up (idempotent), then run the main job or the tests.
#
#   ./run.sh demo [ARGS...]   set up, then `pvatoms demo ARGS...` (default output: ./pvatoms-demo)
#   ./run.sh test [ARGS...]   set up, then the test suite (pytest ARGS...)
#   ./run.sh setup            set up only
#
# Set-up: Debian packages for GPAW (libxc, OpenBLAS, FFTW) and SLURM/munge for the queue tests,
# a virtual environment in .venv (PVATOMS_VENV overrides), torch 2.13.0 (CPU), GPAW built
# against the Debian libraries, and pvatoms with all extras. A second run only checks a stamp.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${PVATOMS_VENV:-$here/.venv}
py=${PYTHON:-python3}
apt_pkgs=(libxc-dev libopenblas-dev libfftw3-dev pkg-config)

say()  { printf '\033[1m[pvatoms setup]\033[0m %s\n' "$*" >&2; }
fail() { printf '\033[1;31m[pvatoms setup] FAILED:\033[0m %s\n' "$*" >&2; exit 1; }

need_apt() {
    local missing=()
    for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    [ -z "$sudo" ] || command -v sudo >/dev/null || fail "need root (or sudo) to apt-get install ${missing[*]}"
    $sudo apt-get update -qq || fail "apt-get update"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || fail "apt-get install ${missing[*]}"
}

setup() {
    command -v dpkg-query >/dev/null || fail "this script expects a Debian/Ubuntu machine (dpkg not found)"
    local stamp_src stamp
    stamp_src=$(cat "$here/pyproject.toml" "$here/run.sh" "$here/scripts/gpaw_siteconfig.py" | sha256sum | cut -c1-16)
    stamp="$venv/.pvatoms-setup-$stamp_src"
    if [ -f "$stamp" ] && "$venv/bin/python" -c "import pvatoms, gpaw, sevenn, chgnet, fireworks" 2>/dev/null; then
        say "environment up to date ($venv)"
        return 0
    fi
    command -v "$py" >/dev/null || apt_pkgs+=(python3 python3-venv python3-dev)
    command -v g++ >/dev/null || apt_pkgs+=(g++)
    command -v gcc >/dev/null || apt_pkgs+=(gcc)
    if command -v "$py" >/dev/null; then
        # Debian's own python3 needs python3-venv (ensurepip) and python3-dev (headers, GPAW build)
        "$py" -c 'import ensurepip' 2>/dev/null || apt_pkgs+=(python3-venv)
        "$py" -c 'import os, sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' \
            2>/dev/null || apt_pkgs+=(python3-dev)
    fi
    need_apt "${apt_pkgs[@]}"
    "$py" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' 2>/dev/null \
        || fail "Python >= 3.10 needed (found: $("$py" --version 2>&1))"
    if [ ! -x "$venv/bin/python" ]; then
        say "creating virtual environment $venv"
        "$py" -m venv "$venv" || fail "python3 -m venv (apt-get install python3-venv?)"
    fi
    local pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
    say "pip: torch==2.13.0 (CPU build; without the pin chgnet/sevenn pull a multi-GB CUDA torch)"
    "${pip[@]}" install "torch==2.13.0" || fail "pip install torch==2.13.0"
    if ! "$venv/bin/python" -c "import gpaw" 2>/dev/null; then
        say "pip: building GPAW against Debian libxc/OpenBLAS/FFTW (scripts/gpaw_siteconfig.py, ~1 min)"
        GPAW_CONFIG="$here/scripts/gpaw_siteconfig.py" "${pip[@]}" install --no-cache-dir "gpaw==26.7.0" \
            || fail "building GPAW (see the compiler output above)"
    fi
    say "pip: pvatoms and its dependencies (ase, pymatgen, phonopy, fireworks, chgnet, sevenn, ...)"
    "${pip[@]}" install -e "$here[all]" || fail "pip install -e .[all]"
    say "checking imports"
    "$venv/bin/python" -c "import pvatoms, gpaw, sevenn, chgnet, fireworks, phonopy, pymatgen.core, torch; assert torch.__version__.startswith('2.13.0'), torch.__version__" \
        || fail "import check"
    "$venv/bin/python" -m gpaw_data --help >/dev/null 2>&1 || true
    rm -f "$venv"/.pvatoms-setup-*
    touch "$stamp"
    say "environment ready ($venv)"
}

workers() {   # test workers: the cores this process may use, at most 4
    local n
    n=$(nproc 2>/dev/null || echo 1)
    [ "$n" -gt 4 ] && n=4
    echo "$n"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    setup) setup ;;
    demo)  setup; say "running: pvatoms demo $*"; exec "$venv/bin/pvatoms" demo "$@" ;;
    test)  setup
           [ -x "$here/scripts/slurm_localhost.sh" ] && [ "$(id -u)" = 0 ] && { "$here/scripts/slurm_localhost.sh" setup || say "SLURM could not start: queue tests will skip and say why"; }
           # parallel workers, one per core (at most 4), whole files per worker, longest files first
           # (tests/conftest.py orders them); `-n 0` runs in this process
           par=()
           case " $* " in *" -n "*|*" -n"[0-9]*|*" --numprocesses"*|*"no:xdist"*) ;;
               *) par=(-n "$(workers)" --dist loadfile --no-loadscope-reorder) ;; esac
           say "running: pytest ${par[*]} $*"
           cd "$here"
           set +e; "$venv/bin/python" -m pytest "${par[@]}" "$@"; rc=$?; set -e
           [ $rc -eq 5 ] && fail "pytest collected no tests (exit 5)"
           exit $rc ;;
    *) echo "usage: ./run.sh demo|test|setup [ARGS...]" >&2; exit 2 ;;
esac
