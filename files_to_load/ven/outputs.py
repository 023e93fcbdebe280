# PWM output channels driven by values from the schedule.
#
# Each channel is a machine.PWM on a free GPIO. It starts at its fail-safe
# duty, and every change is logged once as "<name> price=<p> duty_u16=<d>"
# (logger "ven.outputs", args (name, value, duty)), which is also what the host
# simulation records. The mapping is ven.pricemap's; a channel with a ramp
# limit moves one step per RAMP_STEP_MS while apply() says it is ramping.
# Each channel's meter (ven.meter) keeps what the load really got, for reports.
#
#   outs = Outputs(cfg["outputs"])
#   ramping = outs.apply({"PRICE": 0.21}, now_ms)   # values by payload type; missing -> fail-safe
#   outs.failsafe()

import logging

from machine import Pin, PWM

from ven import isotime
from ven.meter import Meter
from ven.pricemap import DUTY_MAX, duty_for, ramp

log = logging.getLogger("ven.outputs")

# While a ramp limit holds a channel back, the loop steps it this often.
RAMP_STEP_MS = 250


class Channel:
    def __init__(self, cfg):
        self.cfg = cfg
        self.name = cfg["name"]
        self.payload_type = cfg["payload_type"]
        self.limit = cfg.get("ramp_limit_per_s", 0)
        self.duty = duty_for(None, cfg)
        self.pwm = PWM(Pin(cfg["pin"]), freq=cfg["freq_hz"], duty_u16=self.duty)
        self.value = None
        self.target = self.duty
        self._step_ms = None  # time of the last ramp step, while ramping
        self.meter = Meter()
        self._record(None)
        log.info("%s price=%s duty_u16=%d", self.name, None, self.duty)

    def _record(self, now_ms):
        load = DUTY_MAX - self.duty if self.cfg.get("invert") else self.duty
        self.meter.record(isotime.now_ms() if now_ms is None else now_ms, load, self.value is None)

    def set_value(self, value, now_ms=None):
        """Drive the channel for `value` (None = fail-safe); True while still ramping."""
        target = duty_for(value, self.cfg)
        self.target = target
        duty = target
        if value is not None and self.limit and now_ms is not None and self.duty != target:
            # The first step is taken at once (on the boundary), later ones by elapsed time.
            last = self._step_ms
            elapsed = RAMP_STEP_MS if last is None else max(0, now_ms - last)
            duty = ramp(self.duty, target, self.limit, elapsed)
            self._step_ms = now_ms if duty != target else None
        else:
            self._step_ms = None
        changed = duty != self.duty or value != self.value
        self.value = value
        if duty != self.duty:
            self.pwm.duty_u16(duty)
            self.duty = duty
        if changed:
            self._record(now_ms)
            log.info("%s price=%s duty_u16=%d", self.name, value, duty)
        return duty != target


class Outputs:
    def __init__(self, channel_cfgs):
        self.channels = [Channel(c) for c in channel_cfgs]

    def payload_types(self):
        return sorted(set([c.payload_type for c in self.channels]))

    def apply(self, values, now_ms=None):
        """Set every channel from values by payload type; True if any is still ramping."""
        ramping = False
        for c in self.channels:
            if c.set_value(values.get(c.payload_type), now_ms):
                ramping = True
        return ramping

    def failsafe(self):
        for c in self.channels:
            c.set_value(None)

    def status(self):
        return dict([(c.name, (c.value, c.duty)) for c in self.channels])
