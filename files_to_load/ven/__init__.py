# OpenADR 3 VEN for the Olimex ESP32-POE. Modules follow the data flow:
# config -> netup -> discovery (txt, url) -> openadr (http_client) -> schedule (isotime)
# -> outputs (pricemap); button and mainloop wire it together.
VERSION = "0.1.0"
