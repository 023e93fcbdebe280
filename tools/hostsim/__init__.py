"""Host simulation of the ESP32-POE: runs the unmodified files_to_load/ firmware on CPython.

Stand-ins for the MicroPython-only modules (machine, network, ntptime,
micropython, uasyncio, time.ticks_*) are installed into sys.modules by
`install()`; everything else (sockets, asyncio streams, mDNS multicast) is real.
See `python -m tools.hostsim --help`.
"""
