# BUT1 on the ESP32-POE: GPIO34, active low, external pull-up, input only (so
# no internal pull is configured). A press is latched by the pin's interrupt
# into an asyncio.ThreadSafeFlag: it is never lost, even when it is shorter
# than a step that blocks the loop (a TLS handshake, a flash write), and the
# waiting task runs as soon as the loop is free again.
#
#   b = Button(34)
#   await b.wait_pressed()
#   b.held()          # BUT1 down right now (at power-on: safe mode)

import asyncio

from machine import Pin


class Button:
    def __init__(self, pin):
        self.pin = Pin(pin, Pin.IN)
        self.flag = asyncio.ThreadSafeFlag()
        self.pin.irq(self._pressed, Pin.IRQ_FALLING)

    def _pressed(self, pin):
        # Interrupt context: no allocation here.
        self.flag.set()

    def held(self):
        return self.pin.value() == 0

    async def wait_pressed(self):
        await self.flag.wait()
