# Runs at every boot, including the soft reset that mpremote/ampy do before an
# upload (main.py does not run then). It only switches the network interface
# on (ven.netup: Wi-Fi is asked to connect once; the main loop's watcher does
# any retry) so it can come up while main.py starts; it never waits, never
# loops and never starts a watchdog, so the board always stays reachable.
import sys

try:
    import ven.config
    from ven import netup

    cfg = ven.config.load()
    netup.start(cfg["network"], cfg["board"])
except Exception as e:  # noqa: BLE001 - boot must never stop the REPL from coming up
    print("boot: network not started:", e)
# boot.py's names outlive it (main.py, the REPL): drop the config, and its
# module (main.py reads it again), so their heap is free.
cfg = None
if "ven" in sys.modules:
    sys.modules["ven"].forget("ven.config")
