#!/usr/bin/env bash
# Set up custrisk on a Debian machine: system packages for the PDFs and PostgreSQL (for
# the database-source tests; when missing), a virtual environment in .venv, and the
# package with its database and serve extras and dev tools.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_debs=()
have_deb() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# Python 3.11+ with venv.
PY=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    PY=$(command -v "$candidate"); break
  fi
done
if [ -z "$PY" ]; then
  echo "custrisk needs Python 3.11 or newer (python3 --version shows what you have)." >&2
  exit 2
fi
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need_debs+=("python3-venv")
fi

# What WeasyPrint needs to render Chinese PDFs: Pango, a CJK font, HarfBuzz subsetting.
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk fontconfig; do
    have_deb "$pkg" || need_debs+=("$pkg")
  done
  # curl: scripts/demo_serve.sh talks to custrisk serve with it.
  command -v curl >/dev/null 2>&1 || need_debs+=("curl")
  # PostgreSQL: tests/test_sql_source.py starts a throwaway cluster with its initdb and
  # pg_ctl. Installed when we are root; otherwise those tests skip and say why.
  if ! have_deb postgresql && ! command -v initdb >/dev/null 2>&1 &&
     ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      need_debs+=("postgresql")
    else
      echo "Note: PostgreSQL is not installed; the database-source tests will be skipped" \
           "(sudo apt-get install -y postgresql to run them)." >&2
    fi
  fi
fi
if [ ${#need_debs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing system packages: ${need_debs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_debs[@]}" >/dev/null
  else
    echo "Missing system packages: ${need_debs[*]}" >&2
    echo "Install them as root:  sudo apt-get update && sudo apt-get install -y ${need_debs[*]}" >&2
    exit 2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.custrisk-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[db,serve,dev]'
  touch "$stamp"
fi
# bytecode written once: where PYTHONDONTWRITEBYTECODE is set (container images), an
# editable install would otherwise compile every module in every command (0.2 s each)
.venv/bin/python -m compileall -q src/custrisk >/dev/null
echo "custrisk is installed in .venv ($(.venv/bin/custrisk --version))"
