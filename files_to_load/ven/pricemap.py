# Value -> PWM duty for one output channel (device-independent).
#
# A channel maps its payload value (a price, a GHG figure, a SIMPLE level, ...)
# onto duty_u16 (0..65535) in one of two ways:
# - linear: price_low..price_high onto duty_at_low..duty_at_high (either may be
#   the larger, so "cheap = full power" and "cheap = off" are both one setting),
#   clamped outside that range;
# - tiers: [[threshold, duty], ...] with ascending thresholds: the duty of the
#   last tier whose threshold is <= the value (values below the first threshold
#   get the first tier's duty). SIMPLE levels: [[0, 65535], [1, 32768], [2, 0]].
# The mapped duty is then bounded by min_duty..max_duty. No value (no interval
# covers now, no valid clock, stopped) means failsafe_duty, unbounded.
# invert: the load is driven active-low, so the pin gets 65535 - duty for every
# duty above, fail-safe included (all settings stay in terms of the load).
# ramp_limit_per_s (0 = off) limits how fast the duty moves between values, in
# duty units per second; going to fail-safe is never slowed down.
#
#   duty_for(0.21, channel_cfg)                 -> the pin duty for that value
#   ramp(current, target, 6553, elapsed_ms)     -> one step towards target

DUTY_MAX = 65535


def _valid(value):
    return value is not None and not isinstance(value, bool) and isinstance(value, (int, float)) and value == value


def mapped_duty(value, channel):
    """The load's duty for a valid value (before invert), bounded by min/max_duty."""
    tiers = channel.get("tiers")
    if tiers:
        duty = tiers[0][1]
        for tier in tiers:
            if value >= tier[0]:
                duty = tier[1]
            else:
                break
    else:
        lo = channel["price_low"]
        hi = channel["price_high"]
        d_lo = channel["duty_at_low"]
        d_hi = channel["duty_at_high"]
        if lo > hi:
            lo, hi, d_lo, d_hi = hi, lo, d_hi, d_lo
        if value <= lo:
            duty = d_lo
        elif value >= hi:
            duty = d_hi
        else:
            duty = d_lo + int(round((value - lo) * (d_hi - d_lo) / (hi - lo)))
    return min(max(duty, channel.get("min_duty", 0)), channel.get("max_duty", DUTY_MAX))


def load_duty(value, channel):
    """The load's duty for `value` (a number, or None when unknown: fail-safe), before invert."""
    return mapped_duty(value, channel) if _valid(value) else channel["failsafe_duty"]


def duty_for(value, channel):
    """duty_u16 on the pin for `value` (a number, or None when unknown) on `channel` (config dict)."""
    duty = load_duty(value, channel)
    return DUTY_MAX - duty if channel.get("invert") else duty


def ramp(current, target, limit_per_s, elapsed_ms):
    """current moved towards target by at most limit_per_s * elapsed (at least 1 unit)."""
    if not limit_per_s or current is None or current == target:
        return target
    step = max(1, limit_per_s * elapsed_ms // 1000)
    if target > current:
        return min(target, current + step)
    return max(target, current - step)
