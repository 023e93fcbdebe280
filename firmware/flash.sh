#!/usr/bin/env bash
# Erase the ESP32's flash and write a MicroPython image (esptool 5.x).
#
#   ./firmware/flash.sh [--dry-run] FIRMWARE.bin [PORT]
#
# PORT defaults to $PORT, else /dev/ttyUSB0. Which image to use: see
# firmware/README.md. Erasing also wipes the filesystem: run ./load_files.sh
# afterwards. With --dry-run the esptool commands are printed, not run.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

DRY_RUN=0 FIRMWARE="" PORT="${PORT:-/dev/ttyUSB0}"
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN=1 ;;
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "flash.sh: unknown option $arg" >&2; exit 2 ;;
        *) if [ -z "$FIRMWARE" ]; then FIRMWARE="$arg"; else PORT="$arg"; fi ;;
    esac
done
[ -n "$FIRMWARE" ] || { sed -n '4p' "$0" | sed 's/^# \{0,1\}/usage: /' >&2; exit 2; }
[ "$DRY_RUN" = 1 ] || [ -f "$FIRMWARE" ] || { echo "flash.sh: $FIRMWARE: no such file" >&2; exit 1; }

if [ -n "${ESPTOOL:-}" ]; then :
elif [ -x "$REPO/.venv/bin/esptool" ]; then ESPTOOL="$REPO/.venv/bin/esptool"
else ESPTOOL=esptool
fi

run() {
    if [ "$DRY_RUN" = 1 ]; then echo "$*"; else echo "+ $*" >&2; "$@"; fi
}

run "$ESPTOOL" --chip esp32 -p "$PORT" erase-flash
# The ESP32 image (bootloader + partition table + app) starts at 0x1000.
run "$ESPTOOL" --chip esp32 -p "$PORT" -b 460800 write-flash -z 0x1000 "$FIRMWARE"
