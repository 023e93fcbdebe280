"""The firmware on real MicroPython: VMs (vm.py), the simulated board (onboard/, runs ON
MicroPython: stand-ins for machine, network, socket, time and the boot runner) and the
host-side harness that deploys the firmware to it and runs it (run.py)."""
