# Runs at every boot, including the soft reset that mpremote/ampy do before an
# upload (main.py does not run then). It only switches the network interface
# on so it can come up while main.py starts; it never waits, never loops and
# never starts a watchdog, so the board always stays reachable for uploads.
try:
    from ven import config, netup

    netup.start(config.load()["network"])
except Exception as e:  # noqa: BLE001 - boot must never stop the REPL from coming up
    print("boot: network not started:", e)
