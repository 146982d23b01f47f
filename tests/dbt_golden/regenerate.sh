#!/usr/bin/env bash
# Regenerates the dbt-core goldens under tests/fixtures/dbt/<fixture>/golden/.
#
#   tests/dbt_golden/regenerate.sh [FIXTURE ...]
#
# Installs the pinned dbt-core + dbt-postgres (requirements.txt, constraints.txt)
# into a throwaway virtualenv, or into $DVT_GOLDEN_VENV when set (created on first
# use, then reused), and runs generate.py against PostgreSQL on 127.0.0.1:5432
# (user postgres, trust auth, database `test`). Only PyPI is needed.
# See tests/dbt_golden/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

if [[ -n "${DVT_GOLDEN_VENV:-}" ]]; then
  venv="$DVT_GOLDEN_VENV"
  cleanup=""
else
  venv="$(mktemp -d -t dvt-golden-venv.XXXXXX)"
  cleanup="$venv"
fi
cleanup_venv() { if [[ -n "$cleanup" ]]; then rm -rf "$cleanup"; fi; }
trap cleanup_venv EXIT

if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
# A no-op without network once the pinned versions are installed.
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  -r "$here/requirements.txt" -c "$here/constraints.txt"

if ! "$venv/bin/python" -c 'import psycopg2; psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test").close()'; then
  echo "PostgreSQL is not reachable on 127.0.0.1:5432 (user postgres, database test)" >&2
  exit 1
fi

"$venv/bin/python" "$here/generate.py" "$@"
