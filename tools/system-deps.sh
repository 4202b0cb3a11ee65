#!/usr/bin/env bash
# The system packages that `make test`, `make book` and CI (.ci/run) need, installed in one place.
#
#   tools/system-deps.sh book    Python's venv module (Debian/Ubuntu: python3-venv)
#   tools/system-deps.sh test    the above and Chromium (the rendered-book test drives it)
#
# A missing package is installed with apt-get when this runs as root or with password-less sudo
# (HEPSIG_NO_INSTALL=1: never install). Otherwise the script stops at once with one line that says what
# to install. Chromium is looked up as $HEPSIG_CHROMIUM, else `chromium` or `chromium-browser` on PATH;
# the path found is printed on stdout as HEPSIG_CHROMIUM=... (for the caller).
# (No npm: the book serves MathJax from a PyPI package and needs no widgets manager.)
set -euo pipefail

what="${1:-test}"
case "$what" in book|test) ;; *) echo "system-deps: usage: $0 book|test" >&2; exit 2 ;; esac
PYTHON="${PYTHON:-python3}"

find_chromium() {
    if [ -n "${HEPSIG_CHROMIUM:-}" ]; then
        [ -x "$HEPSIG_CHROMIUM" ] && echo "$HEPSIG_CHROMIUM"
        return 0
    fi
    command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null || true
}

missing=()   # Debian package names
hint=()      # what to say when we cannot install
if ! "$PYTHON" -c "import venv, ensurepip" >/dev/null 2>&1; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "system-deps: $PYTHON not found: install Python >= 3.10 (Debian: apt-get install python3 python3-venv)" >&2
        exit 1
    fi
    missing+=("python3-venv"); hint+=("python3-venv")
fi
if [ "$what" = test ] && [ -z "$(find_chromium)" ]; then
    if [ -n "${HEPSIG_CHROMIUM:-}" ]; then
        echo "system-deps: HEPSIG_CHROMIUM=$HEPSIG_CHROMIUM is not an executable" >&2
        exit 1
    fi
    missing+=("chromium"); hint+=("chromium (or set HEPSIG_CHROMIUM=/path/to/chrome)")
fi

if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    can=0
    if [ "${HEPSIG_NO_INSTALL:-0}" != 1 ] && command -v apt-get >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ]; then can=1
        elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"; can=1
        fi
    fi
    if [ "$can" != 1 ]; then
        echo "system-deps: make $what needs ${hint[*]}: install with \`sudo apt-get install ${missing[*]}\` (no root or password-less sudo here)" >&2
        exit 1
    fi
    echo "system-deps: installing ${missing[*]} with apt-get" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "$what" = test ]; then
    found="$(find_chromium)"
    [ -n "$found" ] || { echo "system-deps: chromium is still not found after installing it" >&2; exit 1; }
    echo "HEPSIG_CHROMIUM=$found"
fi
