"""Install the MicroPython stand-ins and run the firmware like the board does."""
import asyncio
import builtins
import gc
import json
import logging
import os
import runpy
import shutil
import socket
import sys
import time
import typing

from tools.hostsim import clock, machine, micropython, network, ntptime

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(REPO, "files_to_load")
DEVICE_LIB = os.path.join(REPO, "build", "device_lib")
DEFAULTS = os.path.join(REPO, "configs", "default.json")

# MicroPython's ticks wrap at 2**30 ms on every port.
TICKS_PERIOD = 1 << 30
_TICKS_MAX = TICKS_PERIOD - 1
_TICKS_HALF = TICKS_PERIOD // 2


def ticks_ms():
    return int(time.monotonic() * 1000) & _TICKS_MAX


def ticks_us():
    return int(time.monotonic() * 1000000) & _TICKS_MAX


def ticks_add(ticks, delta):
    return (ticks + delta) & _TICKS_MAX


def ticks_diff(a, b):
    return ((a - b + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF


async def _sleep_ms(ms):
    await asyncio.sleep(ms / 1000)


class ThreadSafeFlag:
    """MicroPython's asyncio.ThreadSafeFlag on CPython: set() from any thread (an
    interrupt handler on the board) wakes the one task waiting in wait()."""

    def __init__(self):
        self._loop = None
        self._event = None
        self._set = False

    def set(self):
        loop = self._loop
        if loop is None:
            self._set = True
        else:
            loop.call_soon_threadsafe(self._wake)

    def _wake(self):
        self._set = True
        if self._event is not None:
            self._event.set()

    def clear(self):
        self._set = False

    async def wait(self):
        self._loop = asyncio.get_running_loop()
        while not self._set:
            self._event = asyncio.Event()
            await self._event.wait()
        self._set = False


def mem_free():
    # MicroPython's gc.mem_free(); the host has no such figure: the ESP32-POE's heap.
    return 110000


def mem_alloc():
    return 0


def threshold(amount=None):
    # MicroPython's gc.threshold(): CPython's collector needs no such setting.
    return -1


async def _readinto(self, buf):
    # MicroPython's asyncio streams have readinto(); CPython's StreamReader does not.
    data = await self.read(len(buf))
    buf[:len(data)] = data
    return len(data)


class _Socket(socket.socket):
    # MicroPython sockets read into a buffer with readinto(); CPython's call it recv_into().
    def readinto(self, buf):
        try:
            return self.recv_into(buf)
        except BlockingIOError:
            return None


def patch_streams():
    """Give CPython's sockets and asyncio streams MicroPython's readinto() (the firmware reads with it)."""
    asyncio.StreamReader.readinto = _readinto
    socket.socket = _Socket


def install(ip, rtc_unset=False):
    """Make `import machine` etc. resolve to the stand-ins, as on the board.

    time.time()/time_ns() read the simulated board clock (tools.hostsim.clock):
    the host's clock, or with rtc_unset 2000-01-01 + uptime until the firmware
    sets it through machine.RTC().datetime().
    """
    sys.modules["machine"] = machine
    sys.modules["network"] = network
    sys.modules["ntptime"] = ntptime
    sys.modules["micropython"] = micropython
    # micropython-mdns imports `uasyncio` and sleeps with sleep_ms.
    asyncio.sleep_ms = _sleep_ms
    sys.modules["uasyncio"] = asyncio
    asyncio.ThreadSafeFlag = ThreadSafeFlag
    patch_streams()
    gc.mem_free = mem_free
    gc.mem_alloc = mem_alloc
    gc.threshold = threshold
    time.ticks_ms = ticks_ms
    time.ticks_us = ticks_us
    time.ticks_add = ticks_add
    time.ticks_diff = ticks_diff
    time.time = clock.wall
    time.time_ns = clock.wall_ns
    # micropython-mdns evaluates some typing names in annotations at import time.
    for name in ("List", "Dict", "Optional", "Iterable", "Callable", "Awaitable",
                 "Tuple", "Union", "Set", "Any"):
        setattr(builtins, name, getattr(typing, name))
    network.set_address(ip)
    if FIRMWARE not in sys.path:
        sys.path.insert(0, FIRMWARE)
    # Last: build/device_lib also holds micropython-lib's logging.py for the
    # board, which must not shadow CPython's own logging here.
    if DEVICE_LIB not in sys.path:
        sys.path.append(DEVICE_LIB)
    clock.reset()
    if rtc_unset:
        clock.unset_wall()


def make_flash(flash_dir, device_config):
    """A device filesystem root: config/default.json and the user's config/device.json."""
    os.makedirs(os.path.join(flash_dir, "config"), exist_ok=True)
    shutil.copyfile(DEFAULTS, os.path.join(flash_dir, "config", "default.json"))
    if device_config:
        shutil.copyfile(device_config, os.path.join(flash_dir, "config", "device.json"))


class OutputRecorder(logging.Handler):
    """Turns the firmware's output-change log records into JSON lines.

    The duty written is read back from the PWM stand-in, so a line says what
    the pin really does, not what the firmware meant to do.
    """

    def __init__(self, stream, pins_by_channel):
        super().__init__(logging.DEBUG)
        self.stream = stream
        self.pins = pins_by_channel
        self.mismatches = 0

    def emit(self, record):
        args = record.args
        if not isinstance(args, tuple) or len(args) != 3:
            return
        name, price, duty = args
        pwm = machine.PWMS.get(self.pins.get(name))
        real = pwm.duty_u16() if pwm is not None else None
        if real != duty:
            self.mismatches += 1
        line = {"t": round(clock.real_time(), 3), "channel": name, "duty_u16": real, "price": price}
        self.stream.write(json.dumps(line) + "\n")
        self.stream.flush()


def run_firmware():
    """boot.py then main.py, from the device filesystem root (the cwd)."""
    runpy.run_path(os.path.join(FIRMWARE, "boot.py"), run_name="__main__")
    runpy.run_path(os.path.join(FIRMWARE, "main.py"), run_name="__main__")
