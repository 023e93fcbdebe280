# PWM output channels driven by values from the schedule.
#
# Each channel is a machine.PWM on a free GPIO. It starts at its fail-safe
# duty, and every change is logged once as "<name> price=<p> duty_u16=<d>"
# (logger "ven.outputs", args (name, price, duty)), which is also what the host
# simulation records.
#
#   outs = Outputs(cfg["outputs"])
#   outs.apply({"PRICE": 0.21})     # values by payload type; missing -> fail-safe
#   outs.failsafe()

import logging

from machine import Pin, PWM

from ven.pricemap import duty_for

log = logging.getLogger("ven.outputs")


class Channel:
    def __init__(self, cfg):
        self.cfg = cfg
        self.name = cfg["name"]
        self.payload_type = cfg["payload_type"]
        self.pwm = PWM(Pin(cfg["pin"]), freq=cfg["freq_hz"], duty_u16=cfg["failsafe_duty"])
        self.duty = cfg["failsafe_duty"]
        self.value = None
        log.info("%s price=%s duty_u16=%d", self.name, None, self.duty)

    def set_value(self, value):
        duty = duty_for(value, self.cfg)
        changed = duty != self.duty or value != self.value
        self.value = value
        if duty != self.duty:
            self.pwm.duty_u16(duty)
            self.duty = duty
        if changed:
            log.info("%s price=%s duty_u16=%d", self.name, value, duty)


class Outputs:
    def __init__(self, channel_cfgs):
        self.channels = [Channel(c) for c in channel_cfgs]

    def payload_types(self):
        return sorted(set([c.payload_type for c in self.channels]))

    def apply(self, values):
        for c in self.channels:
            c.set_value(values.get(c.payload_type))

    def failsafe(self):
        for c in self.channels:
            c.set_value(None)

    def status(self):
        return dict([(c.name, (c.value, c.duty)) for c in self.channels])
