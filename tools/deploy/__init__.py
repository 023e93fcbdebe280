"""Host-side helpers of load_files.sh and firmware/flash.sh (never on a device):

- ports.py       which serial port the board is on
- configcheck.py configs/ checked with the firmware's own config module
- plan.py        the upload tree staged on the PC, and what differs on the board
- scripts.py     the MicroPython scripts run on the board (probe, send, commit)
- transport.py   mpremote and ampy, driven the same way
- upload.py      the steps of an upload, their messages and the recovery advice
"""
