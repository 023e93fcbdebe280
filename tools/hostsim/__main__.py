"""python -m tools.hostsim --config PATH --seconds N --events-out PATH [--button-at S] [--ip ADDR] [--rtc-unset]

Runs the unmodified firmware in files_to_load/ on CPython with the device
config at PATH merged over configs/default.json, for N seconds (then it is
interrupted like Ctrl-C at the REPL), writing each output change as a JSON
line {"t", "channel", "duty_u16", "price"} to --events-out. --button-at S
presses BUT1 after S seconds; --rtc-unset starts the board clock at 2000-01-01
(power-on without a set RTC) until the firmware sets it. Exit 0 after a clean
stop, 2 on a config error. Recorded times are the host's clock.
Network traffic is real: run it inside a private namespace (tools.netns) when
discovery is used.
"""
import argparse
import logging
import os
import sys
import tempfile
import threading
import _thread

from tools.hostsim import machine, sim


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m tools.hostsim", description=__doc__.split("\n\n")[1])
    p.add_argument("--config", help="device config JSON (like configs/device.json); default: none")
    p.add_argument("--seconds", type=float, required=True, help="stop after this long")
    p.add_argument("--events-out", required=True, help="JSON-lines file of output changes")
    p.add_argument("--button-at", type=float, help="press BUT1 after this many seconds")
    p.add_argument("--ip", default="127.0.0.1", help="the board's IPv4 address (default 127.0.0.1)")
    p.add_argument("--flash", help="directory used as the device filesystem (default: a temp dir)")
    p.add_argument("--rtc-unset", action="store_true",
                   help="the board clock reads 2000-01-01 at power-on until the firmware sets it (NTP, HTTP Date)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    events = open(args.events_out, "w")
    flash = args.flash or tempfile.mkdtemp(prefix="ven-flash-")
    sim.make_flash(flash, args.config)
    sim.install(args.ip, rtc_unset=args.rtc_unset)
    recorder = sim.OutputRecorder(events, {})
    logging.getLogger("ven.outputs").addHandler(recorder)
    if args.button_at is not None:
        machine.press_button_at(args.button_at)
    timed_out = threading.Event()

    def stop():
        timed_out.set()
        _thread.interrupt_main()

    timer = threading.Timer(args.seconds, stop)
    timer.daemon = True
    os.chdir(flash)
    pins = {}
    try:
        from ven import config
        pins = dict([(c["name"], c["pin"]) for c in config.load()["outputs"]])
    except ValueError:
        pass  # the firmware reports the broken config itself, with the fix
    recorder.pins = pins
    timer.start()
    code = 0
    try:
        sim.run_firmware()
    except KeyboardInterrupt:
        if not timed_out.is_set():
            raise
    finally:
        timer.cancel()
        events.close()
    import ven.mainloop
    if ven.mainloop.state is None:
        code = 2  # the config was rejected; the firmware printed why
    if recorder.mismatches:
        print("hostsim: %d output changes did not reach the PWM" % recorder.mismatches, file=sys.stderr)
        code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
