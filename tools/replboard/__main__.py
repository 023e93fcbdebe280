"""Run the simulated board until Ctrl-C, to try mpremote, ampy or a terminal on it.

    .venv/bin/python -m tools.replboard --flash DIR [--frozen DIR] [--no-raw-paste]
"""
import argparse
import sys
import threading

from tools.replboard.board import Board


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.replboard", description=__doc__.splitlines()[0])
    ap.add_argument("--flash", required=True, help="host folder that is the board's filesystem")
    ap.add_argument("--frozen", help="folder of modules the simulated image has frozen in")
    ap.add_argument("--no-raw-paste", action="store_true", help="answer like a firmware without raw paste")
    args = ap.parse_args(argv)
    board = Board(args.flash, frozen=args.frozen, raw_paste=not args.no_raw_paste).start()
    print(board.port, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    board.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
