# Price -> PWM duty for one output channel (device-independent).
#
# A channel maps price_low..price_high linearly onto duty_at_low..duty_at_high
# (either may be the larger, so "cheap = full power" and "cheap = off" are both
# one setting), clamps outside that range, and uses failsafe_duty when no valid
# price is known. Duty is MicroPython's duty_u16 scale: 0..65535.

DUTY_MAX = 65535


def duty_for(price, channel):
    """duty_u16 for `price` (a number, or None when unknown) on `channel` (config dict)."""
    if price is None or isinstance(price, bool) or not isinstance(price, (int, float)):
        return channel["failsafe_duty"]
    if price != price:  # NaN: a server bug, not a price
        return channel["failsafe_duty"]
    lo = channel["price_low"]
    hi = channel["price_high"]
    d_lo = channel["duty_at_low"]
    d_hi = channel["duty_at_high"]
    if price <= lo:
        return d_lo
    if price >= hi:
        return d_hi
    return d_lo + int(round((price - lo) * (d_hi - d_lo) / (hi - lo)))
