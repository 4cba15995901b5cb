#!/usr/bin/env bash
# Installs what halite needs to build, test and plot, on Debian 12 (bookworm).
#
# Idempotent: every Debian package is checked with `dpkg -s` first and every Python module with
# an import, so a machine that already has everything does no apt or pip work at all. Run as
# root to install; as another user it only checks, and fails with the list of what is missing.
# Prints what it found and what it did.
set -euo pipefail

APT_PACKAGES=(cmake g++ pkg-config libsundials-dev libhdf5-dev libyaml-cpp-dev libcli11-dev
              libfmt-dev libsuitesparse-dev libgtest-dev python3 python3-pip python3-venv
              python3-dev clang libclang-rt-14-dev libnlopt-dev libopenmpi-dev openmpi-bin)
PY_MODULES=(numpy h5py matplotlib)

say() { echo "install-deps: $*"; }
die() { echo "install-deps: error: $*" >&2; exit 1; }

is_root() { [[ $(id -u) -eq 0 ]]; }

# --- Debian packages ------------------------------------------------------------------------
deb_installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

command -v dpkg >/dev/null 2>&1 ||
  die "dpkg not found: this script supports Debian 12; install by hand: ${APT_PACKAGES[*]}"

missing_deb=()
for pkg in "${APT_PACKAGES[@]}"; do
  deb_installed "$pkg" || missing_deb+=("$pkg")
done

if ((${#missing_deb[@]} == 0)); then
  say "Debian packages: all ${#APT_PACKAGES[@]} installed, nothing to do"
else
  say "Debian packages missing: ${missing_deb[*]}"
  is_root || die "not root: cannot install ${missing_deb[*]}; run as root" \
                 "(or: sudo apt-get install ${missing_deb[*]})"
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found"
  export DEBIAN_FRONTEND=noninteractive
  say "apt-get update"
  apt-get update -qq
  say "apt-get install ${missing_deb[*]}"
  apt-get install -y -qq --no-install-recommends "${missing_deb[@]}"
  for pkg in "${missing_deb[@]}"; do
    deb_installed "$pkg" || die "apt-get did not install $pkg"
  done
  say "Debian packages: installed ${missing_deb[*]}"
fi

# --- Python modules (for validation/plot_run.py and the h5py/plot tests) ----------------------
command -v python3 >/dev/null 2>&1 || die "python3 not on PATH"
PYTHON=$(command -v python3)

missing_py=()
for mod in "${PY_MODULES[@]}"; do
  python3 -c "import $mod" >/dev/null 2>&1 || missing_py+=("$mod")
done

if ((${#missing_py[@]} == 0)); then
  say "Python modules (${PYTHON}): ${PY_MODULES[*]} importable, nothing to do"
else
  say "Python modules missing for ${PYTHON}: ${missing_py[*]}"
  is_root || die "not root: cannot install ${missing_py[*]}; run as root" \
                 "(or: python3 -m pip install --user ${missing_py[*]})"
  python3 -m pip --version >/dev/null 2>&1 || die "pip is not available for ${PYTHON}"
  say "pip install ${missing_py[*]}"
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  if ! python3 -m pip install --quiet "${missing_py[@]}" >"$log" 2>&1; then
    if grep -q 'externally-managed-environment' "$log"; then
      # Debian 12's own python3 refuses pip installs outside a venv (PEP 668).
      say "pip refused (externally managed environment); retrying with --break-system-packages"
      python3 -m pip install --quiet --break-system-packages "${missing_py[@]}" ||
        die "pip install --break-system-packages ${missing_py[*]} failed"
    else
      cat "$log" >&2
      die "pip install ${missing_py[*]} failed"
    fi
  fi
  for mod in "${missing_py[@]}"; do
    python3 -c "import $mod" >/dev/null 2>&1 || die "$mod still cannot be imported after pip"
  done
  say "Python modules: installed ${missing_py[*]}"
fi

say "done"
