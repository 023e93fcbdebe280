#!/usr/bin/env bash
# Erase the ESP32's flash and write a MicroPython image (esptool 5.x).
#
#   ./firmware/flash.sh [--dry-run] [FIRMWARE.bin] [PORT]
#   make flash [FIRMWARE=path] [VEN_PORT=port] [DRY_RUN=1]
#
# FIRMWARE defaults to build/firmware/firmware.bin (`make firmware`: the app,
# mdns_client and logging frozen in, for the ESP32-POE without PSRAM); any
# other ESP32 image works too, e.g. MicroPython's own OLIMEX_ESP32_POE image
# (docs/flash.md says which board needs which). PORT: an argument, else
# $VEN_PORT, else the one USB serial adapter of a known kind (CH340/CH9102,
# CP210x, FTDI, ESP32 USB); an unrelated $PORT is ignored. Erasing also wipes
# the filesystem: upload the app afterwards (make deploy). With --dry-run the
# esptool commands are printed, not run.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEFAULT_FIRMWARE="build/firmware/firmware.bin"

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

DRY_RUN=0 FIRMWARE="" PORT_ARG=""
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN=1 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "flash.sh: unknown option $arg" >&2; usage >&2; exit 2 ;;
        *.bin|*.BIN) FIRMWARE="$arg" ;;
        *) if [ -z "$FIRMWARE" ] && [ -f "$arg" ]; then FIRMWARE="$arg"; else PORT_ARG="$arg"; fi ;;
    esac
done

if [ -z "$FIRMWARE" ]; then
    FIRMWARE="$DEFAULT_FIRMWARE"
    # Relative to the repository, wherever this is run from.
    [ -f "$FIRMWARE" ] || [ ! -f "$REPO/$FIRMWARE" ] || FIRMWARE="$REPO/$FIRMWARE"
fi
if [ -f "$FIRMWARE" ]; then
    # Every ESP32 image (bootloader first) starts with the magic byte 0xE9.
    magic="$(od -An -tx1 -N1 "$FIRMWARE" | tr -d ' \n')"
    if [ "$magic" != "e9" ]; then
        echo "flash.sh: $FIRMWARE is not an ESP32 image (it starts with 0x$magic, not 0xE9)" >&2
        exit 1
    fi
elif [ "$DRY_RUN" = 1 ]; then
    echo "flash.sh: (dry run) $FIRMWARE does not exist yet" >&2
else
    if [ "$FIRMWARE" = "$DEFAULT_FIRMWARE" ] || [ "$FIRMWARE" = "$REPO/$DEFAULT_FIRMWARE" ]; then
        echo "flash.sh: $DEFAULT_FIRMWARE does not exist. Build it with \`make firmware\` (needs ESP-IDF), or" \
             "flash another image: make flash FIRMWARE=path/to/image.bin (see docs/flash.md)" >&2
    else
        echo "flash.sh: $FIRMWARE: no such file" >&2
    fi
    exit 1
fi

if [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"; else PY=python3; fi
if [ "$DRY_RUN" = 1 ]; then
    PORT="$(cd "$REPO" && "$PY" -m tools.deploy.ports --placeholder PORT ${PORT_ARG:+"$PORT_ARG"})"
else
    PORT="$(cd "$REPO" && "$PY" -m tools.deploy.ports ${PORT_ARG:+"$PORT_ARG"})"
fi

if [ -n "${ESPTOOL:-}" ]; then :
elif [ -x "$REPO/.venv/bin/esptool" ]; then ESPTOOL="$REPO/.venv/bin/esptool"
elif command -v esptool >/dev/null 2>&1; then ESPTOOL=esptool
elif [ "$DRY_RUN" = 1 ]; then ESPTOOL=esptool
else echo "flash.sh: esptool not found: run \`make setup\` (it installs it into .venv/bin)" >&2; exit 1
fi

run() {
    if [ "$DRY_RUN" = 1 ]; then echo "$*"; else echo "+ $*" >&2; "$@"; fi
}

run "$ESPTOOL" --chip esp32 -p "$PORT" erase-flash
# The ESP32 image (bootloader + partition table + app) starts at 0x1000.
run "$ESPTOOL" --chip esp32 -p "$PORT" -b 460800 write-flash -z 0x1000 "$FIRMWARE"
if [ "$DRY_RUN" = 0 ]; then
    echo "flash.sh: done. The filesystem is empty now: upload the app with \`make deploy\` (docs/upload.md)" >&2
fi
