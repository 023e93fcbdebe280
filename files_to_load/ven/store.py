# Atomic file replacement on the device's littlefs (and any POSIX host).
#
# The new content goes to PATH.tmp, which is closed (flushed) and renamed over
# PATH: littlefs renames atomically, so after a reset mid-write PATH holds
# either the old or the new content, never half of one.
#
#   store.write_atomic("schedule.bin", [b"header\n", some_array])

import os


def write_atomic(path, parts):
    """Write every bytes-like object of `parts` to path, atomically."""
    tmp = path + ".tmp"
    f = open(tmp, "wb")
    try:
        for p in parts:
            f.write(p)
    except BaseException:
        f.close()
        _remove(tmp)
        raise
    f.close()
    try:
        os.rename(tmp, path)
    except OSError:
        # Filesystems that refuse to rename over a file (FAT): replace in two steps.
        _remove(path)
        os.rename(tmp, path)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
