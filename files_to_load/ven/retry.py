# The one back-off rule of the VEN: waits that double with each failure in a
# row, from 2 s up to a cap (retry_max_s and the like). Device-independent.
#
#   await asyncio.sleep(retry.delay(failures, cfg["vtn"]["retry_max_s"]))


def delay(failures, cap_s):
    """Seconds to wait after `failures` (>= 1) failures in a row."""
    return min(cap_s, 2 ** min(max(failures, 1), 12))
