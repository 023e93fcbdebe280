# BUT1 on the ESP32-POE: GPIO34, active low, external pull-up, input only
# (so no internal pull is configured). Sampled every poll_ms (<= 100 ms) and
# debounced over two samples.
#
#   await Button(34, 50).wait_pressed()

import asyncio

from machine import Pin


class Button:
    def __init__(self, pin, poll_ms):
        self.pin = Pin(pin, Pin.IN)
        self.poll_s = poll_ms / 1000

    def pressed(self):
        return self.pin.value() == 0

    async def wait_pressed(self):
        low = 0
        while low < 2:
            low = low + 1 if self.pressed() else 0
            await asyncio.sleep(self.poll_s)
