# OpenADR 3 VEN for the Olimex ESP32-POE. Modules follow the data flow:
# config -> netup -> discovery (txt, url) -> openadr (http_client) -> schedule (isotime)
# -> outputs (pricemap); button and mainloop wire it together.
VERSION = "0.1.0"


def forget(name):
    """Let a module used only now and then (the config at start, registration,
    SNTP, the schedule file) leave the heap: MicroPython frees a module nothing
    refers to any more; the next use imports it again."""
    import sys
    sys.modules.pop(name, None)
    short = name.rpartition(".")[2]
    if short in globals():
        del globals()[short]
