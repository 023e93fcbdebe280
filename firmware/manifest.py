# MicroPython freezing manifest: builds the VEN into the firmware image.
#
# Frozen code runs from flash: it needs no compile step at import and leaves
# far more of the ~110 KB heap to the application. For advanced users; the
# normal path is a published image plus ./load_files.sh (firmware/README.md).
#
#   make setup                                  # stages build/device_lib/mdns_client
#   cd micropython/ports/esp32
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/abs/path/to/repo/firmware/manifest.py
#
# Relative paths below are resolved from this file's folder (firmware/).
# boot.py, main.py and config/ stay on the device's filesystem (upload them
# with ./load_files.sh --frozen): a frozen main.py would run in preference to
# the filesystem's, leaving no way to change the start-up without reflashing.

# Everything the stock ESP32 image has: asyncio, network bundle, mip, ...
include("$(PORT_DIR)/boards/manifest.py")

# micropython-lib's logging (not frozen in the stock ESP32 image).
require("logging")

# micropython-mdns 1.8.0, as staged (unmodified) by tools/stage_device_libs.py.
package("mdns_client", base_path="../build/device_lib")

# The application package.
package("ven", base_path="../files_to_load")
