# The test VM with the app frozen in, from the same package list as the ESP32-POE
# image (firmware/app_manifest.py).
include("manifest_board.py")
include("../../../firmware/app_manifest.py")
