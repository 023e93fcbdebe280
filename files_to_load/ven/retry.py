# The one back-off rule of the VEN: waits that double with each failure in a
# row, from `first` (2 s unless said) up to a cap (retry_max_s and the like).
# Any unit: the caller's. Device-independent.
#
#   await asyncio.sleep(retry.delay(failures, cfg["vtn"]["retry_max_s"]))
#   wait_ms = retry.delay(tries, 120000, 4000)


def delay(failures, cap, first=2):
    """The wait after `failures` (>= 1) failures in a row: first, doubling, at most cap."""
    return min(cap, first << min(max(failures, 1) - 1, 11))
