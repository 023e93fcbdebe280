#!/usr/bin/env bash
# Upload the VEN application and its configuration to an ESP32 running
# MicroPython, with mpremote or ampy, from what `make setup` staged (no internet).
#
#   ./load_files.sh [--tool mpremote|ampy] [--frozen|--mpy|--source] [--dry-run] [--no-reset] [PORT]
#   ./load_files.sh --help          every option and step
#   make deploy                     the same, after `make setup`
#
# The work is done by tools/deploy/upload.py (docs/upload.md explains it):
# configs/ checked with the firmware's own config module, the port found, the
# board read, the files that differ sent to /.upload and switched into place
# only when all arrived intact, then a hard reset. Run it again after any
# interruption: it finishes where it stopped.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$REPO"
if [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"; else PY=python3; fi
exec "$PY" -m tools.deploy.upload "$@"
