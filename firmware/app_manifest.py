# The package list frozen with the VEN: included by firmware/manifest.py (the
# ESP32-POE image) and by the test VM's manifest (tools/mpboard/onboard/manifest_app.py),
# so both freeze exactly the same modules. Paths are relative to this folder.
#
# The app's files_to_load/boot.py, main.py and config/ are not frozen: they stay
# on the filesystem (./load_files.sh --frozen uploads them), so start-up and
# settings change without reflashing (a frozen main.py would run in preference).

# micropython-lib's logging (not frozen in MicroPython's own ESP32 images).
require("logging")

# micropython-mdns 1.8.0: the modules the VEN imports, as staged (unmodified) by
# tools/stage_device_libs.py under an __init__ that imports nothing.
package("mdns_client", base_path="../build/device_lib", opt=3)

# The application package.
package("ven", base_path="../files_to_load", opt=3)
