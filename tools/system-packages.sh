#!/usr/bin/env bash
# What only the operating system can give (Python packages go into .venv; this is the rest). The Makefile runs:
#   tools/system-packages.sh venv PYTHON   before making .venv: Debian ships `venv`/ensurepip as python3.X-venv
#   tools/system-packages.sh dist PYTHON   before PyInstaller: binutils, and libpython for Debian's own Python
#   tools/system-packages.sh test PYTHON   before pytest: the above, Chromium, Xvfb and what Qt loads
# It installs only what is missing, on Debian/Ubuntu as root or with passwordless `sudo -n`; otherwise it stops
# and prints the one command to run. With nothing missing it is a dpkg-query or two and no apt-get: 0.03-0.15 s.
# It lives in tools/, not .ci/, because every machine that runs `make test` needs it, not only CI.
set -euo pipefail

# Debian package names, one per line: the package (a|b: either one is enough), then why it is needed.
DIST_PACKAGES='
binutils              PyInstaller reads shared libraries with objdump (make dist, tests/test_dist.py)
'
TEST_PACKAGES='
xvfb                  the window test (tests/test_desktop.py) shows Qt on a private X display
xauth                 the X authority file Xvfb sessions use
imagemagick           its `import` takes the window test screenshot
xdotool               finds the window by its title
libatomic1            the Node.js inside Playwright (the driver that steers Chromium) links it
libxcb-cursor0        from here on: what the xcb platform plugin of Qt (PySide6) and QtWebEngine load
libxcb-icccm4
libxcb-keysyms1
libxkbcommon-x11-0
libxcb-image0
libxcb-render-util0
libxcb-shape0
libxcb-xinerama0
libxcb-randr0
libxcb-xkb1
libegl1
libgl1
libnss3
libxcomposite1
libxdamage1
libxrandr2
libxtst6
libasound2|libasound2t64   renamed libasound2t64 in Debian 13 and Ubuntu 24.04
libfontconfig1
libdbus-1-3
libxkbfile1
'
# Off Debian we cannot name packages, so we name the programs the tests run.
DIST_PROGRAMS="objdump"
TEST_PROGRAMS="Xvfb xauth import xdotool"

missing=()
notes=()

on_debian() { command -v dpkg-query >/dev/null && command -v apt-get >/dev/null; }

is_ubuntu() {  # Ubuntu and its derivatives (Mint: ID_LIKE="ubuntu debian")
  [ -r /etc/os-release ] && grep -Eq '^ID(_LIKE)?="?([a-z]+ )*ubuntu' /etc/os-release
}

has_chromium() {  # what tests/conftest.py looks for, in the same order
  [ -n "${KSEF_LOCAL_CHROMIUM:-}" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null
}

check_packages() {  # $1: a package table like the ones above
  local installed choice alternative found
  # One dpkg-query for everything: "ii |name" for each installed package; keep the names.
  installed=" $(dpkg-query -W -f='${db:Status-Abbrev}|${Package}\n' 2>/dev/null | sed -n 's/^ii *|//p' | tr '\n' ' ') "
  while read -r choice _; do
    [ -n "$choice" ] || continue
    found=no
    for alternative in ${choice//|/ }; do
      case "$installed" in *" $alternative "*) found=yes ;; esac
    done
    [ "$found" = yes ] || missing+=("${choice%%|*}")  # apt takes the old name and picks the renamed package
  done <<< "$1"
}

check_libpython() {  # $1: the Python that PyInstaller runs under
  local prefix version
  read -r prefix version <<< "$("$1" -c 'import sys; print(sys.base_prefix, "%d.%d" % sys.version_info[:2])')"
  # pyenv, conda and python.org builds carry their own libpython; Debian's python3 has it in another package.
  [ "$prefix" = /usr ] || return 0
  check_packages "libpython$version|libpython${version}t64   PyInstaller bundles it (Ubuntu 24.04 adds t64)"
}

check_chromium_package() {
  has_chromium && return
  if ! is_ubuntu; then
    missing+=(chromium)
  elif [ -S /run/snapd.socket ]; then
    missing+=(chromium-browser)  # on Ubuntu this package only installs the Chromium snap
  else
    notes+=("Chromium: na Ubuntu jest tylko jako snap, a snapd tu nie działa, więc testy przeglądarki pominą się.
  Aby je uruchomić, wskaż inny Chromium lub Chrome: KSEF_LOCAL_CHROMIUM=/ścieżka/do/chrome make test")
  fi
}

check_programs() {  # $@: programs that must be on PATH
  local program
  for program in "$@"; do
    command -v "$program" >/dev/null || missing+=("$program")
  done
}

install_or_explain() {
  local note as_root
  for note in ${notes[@]+"${notes[@]}"}; do echo "$note"; done
  [ ${#missing[@]} -gt 0 ] || return 0
  if ! on_debian; then
    echo "Brakuje: ${missing[*]}. Zainstaluj to menedżerem pakietów systemu i uruchom polecenie ponownie."
    exit 1
  fi
  if [ "$(id -u)" = 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "Brakuje pakietów systemowych: ${missing[*]}"
    echo "Zainstaluj je tym poleceniem, a potem uruchom make ponownie:"
    echo
    echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
    echo
    exit 1
  fi
  echo "Instaluję brakujące pakiety systemowe: ${missing[*]}"
  # The package lists may be absent (a fresh container) or stale: refresh them, but only when installing.
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
}

# macOS and Windows: Qt comes inside the PySide6 wheel and PyInstaller uses the system's own tools;
# the browser and window tests say themselves why they skip.
[ "$(uname -s)" = Linux ] || exit 0

mode="${1:-}"
python="${2:-}"
if [ -z "$python" ] || ! "$python" -c '' 2>/dev/null; then
  echo "usage: tools/system-packages.sh venv|dist|test PYTHON" >&2
  exit 2
fi
case "$mode" in
  venv)
    "$python" -c 'import ensurepip, venv' 2>/dev/null \
      || missing+=("python3.$("$python" -c 'import sys; print(sys.version_info[1])')-venv")
    ;;
  dist)
    if on_debian; then
      check_packages "$DIST_PACKAGES"
      check_libpython "$python"
    else
      check_programs $DIST_PROGRAMS
    fi
    ;;
  test)
    if on_debian; then
      check_packages "$DIST_PACKAGES$TEST_PACKAGES"
      check_libpython "$python"  # tests/test_dist.py builds the executable
      check_chromium_package
    else
      check_programs $DIST_PROGRAMS $TEST_PROGRAMS
      has_chromium || missing+=(chromium)
    fi
    ;;
  *)
    echo "usage: tools/system-packages.sh venv|dist|test PYTHON" >&2
    exit 2
    ;;
esac
install_or_explain
