"""A simulated ESP32-POE on a serial line (a pty) that speaks MicroPython's REPL
protocols and runs what it receives on the real MicroPython unix port: the
board the upload tests (tests/deploy/) drive mpremote and ampy against.

    from tools.replboard import Board
    python -m tools.replboard --flash DIR     # print the port; Ctrl-C to stop

See board.py (host side) and agent.py (the MicroPython side).
"""
from tools.replboard.board import Board, BoardError  # noqa: F401
