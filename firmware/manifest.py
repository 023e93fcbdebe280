# Freezing manifest of the ESP32-POE image (make firmware, tools/build_firmware.py):
# everything MicroPython's own ESP32 images freeze, plus the VEN.
#
# The ESP32-POE has no PSRAM: imported from files, the app does not fit its ~112 KB
# heap. Frozen, its bytecode runs from flash. Build it with `make firmware`, or by
# hand from a MicroPython v1.27.0 checkout (after `make setup` here):
#
#   make -C ports/esp32 BOARD=OLIMEX_ESP32_POE FROZEN_MANIFEST=/abs/path/to/repo/firmware/manifest.py
#
# Relative paths are resolved from this file's folder (firmware/).

# The port's own frozen modules: _boot, asyncio, the network bundle, mip, ...
include("$(PORT_DIR)/boards/manifest.py")

# The app: ven, mdns_client, logging. The same list freezes the test VM
# (tools/mpboard/onboard/manifest_app.py), so both run the same modules.
include("app_manifest.py")
