# Freezing manifest of the 32-bit test VM (tools/mpboard/vm.py): the unix port's
# standard modules plus the board stand-ins of this folder, frozen as the
# ESP32's built-in modules are "free" there (their code costs no heap).
include("$(PORT_DIR)/variants/standard/manifest.py")
# board.py too (run with -m board): the board's own start-up is C, not heap.
for name in ("_board", "board", "machine", "network", "socket", "time"):
    module(name + ".py", opt=3)
