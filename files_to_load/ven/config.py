# Configuration: documented defaults merged with the user's device file.
#
# config/default.json (from configs/ in the repo) is both the defaults and the
# schema: every key a device file may set exists there with a value of the
# right type. config/device.json holds the user's settings and secrets and
# overrides the defaults key by key. Each entry of "outputs" is merged over
# "channel_defaults". Anything unknown, mistyped or out of range raises
# ConfigError naming the file, the key and the fix, before anything starts.
# Device-independent: takes plain dicts, the only I/O is load().
#
#   cfg = config.load()                     # on the device
#   cfg = config.merge(defaults, device)    # in tests

import json

DEFAULTS_PATH = "config/default.json"
DEVICE_PATH = "config/device.json"

# Pins the ESP32-POE leaves free for PWM (HARDWARE.md): others are strapping
# pins, the Ethernet PHY, the SD card or input-only.
PWM_PINS = (4, 13, 14, 16, 32, 33)
# Key "board", the Olimex product: its pins free for PWM. The WROVER module's
# PSRAM takes GPIO16 and 17 (its Ethernet clock moves to GPIO0: ven.netup).
BOARDS = {
    "ESP32-POE": PWM_PINS,
    "ESP32-POE-ISO": PWM_PINS,
    "ESP32-POE-ISO-WROVER": (4, 13, 14, 32, 33),
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
INTERFACES = ("ethernet", "wifi")
SCHEMES = ("http", "https")
DISCOVERY_MODES = ("auto", "local", "local_then_static", "static")
# Keys that once existed and are now ignored: button.poll_ms (BUT1 is latched by
# its interrupt since).
_RETIRED = (("button", "poll_ms"),)


class ConfigError(ValueError):
    pass


def _type_name(v):
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, (int, float)):
        return "a number" if isinstance(v, float) else "an integer"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return "null"


def _same_type(default, value):
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return type(default) is type(value)


def _distance(a, b):
    # Levenshtein distance, small strings only: for "did you mean" hints.
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        prev = cur
    return prev[len(b)]


def _unknown_key(source, path, key, known):
    best = None
    for k in known:
        d = _distance(key.lower(), k.lower())
        if d <= max(2, len(k) // 3) and (best is None or d < best[0]):
            best = (d, k)
    where = path + key
    hint = ("did you mean '%s%s'?" % (path, best[1])) if best else (
        "valid keys here: %s" % ", ".join(sorted(known)))
    return ConfigError("%s: unknown key '%s'; %s" % (source, where, hint))


def _merge_dict(defaults, override, source, path):
    out = {}
    for k in defaults:
        out[k] = defaults[k]
    for k in override:
        if k not in defaults:
            raise _unknown_key(source, path, k, defaults)
        d = defaults[k]
        v = override[k]
        if not _same_type(d, v):
            raise ConfigError("%s: key '%s%s' must be %s, got %s (%r)" % (
                source, path, k, _type_name(d), _type_name(v), v))
        if isinstance(d, dict):
            v = _merge_dict(d, v, source, path + k + ".")
        out[k] = v
    return out


def merge(defaults, device, source=DEVICE_PATH):
    """Defaults overridden by the device dict; validated. Returns a new dict."""
    if not isinstance(device, dict):
        raise ConfigError("%s: must hold a JSON object, got %s" % (source, _type_name(device)))
    for section, key in _RETIRED:
        if isinstance(device.get(section), dict) and key in device[section]:
            device = dict(device)
            device[section] = dict(device[section])
            del device[section][key]  # older device files keep loading; the key does nothing now
    cfg = _merge_dict(defaults, device, source, "")
    channel_defaults = defaults["channel_defaults"]
    outputs = []
    for i, ch in enumerate(cfg["outputs"]):
        where = "outputs[%d]." % i
        if not isinstance(ch, dict):
            raise ConfigError("%s: '%s' must be an object like %s" % (source, where[:-1], '{"name": "load1", "pin": 4}'))
        outputs.append(_merge_dict(channel_defaults, ch, source, where))
    cfg["outputs"] = outputs
    check(cfg, source)
    # What an empty vtn.ven_name means (README), settled here once for the VEN's modules.
    cfg["vtn"]["ven_name"] = cfg["vtn"]["ven_name"] or cfg["network"]["hostname"] or "openadr-ven"
    return cfg


def _require(cond, source, key, fix):
    if not cond:
        raise ConfigError("%s: key '%s' %s" % (source, key, fix))


def check(cfg, source=DEVICE_PATH):
    """Range and consistency checks that types alone cannot express."""
    _require(cfg["board"] in BOARDS, source, "board",
             "must name your Olimex board: one of %s (an -EA variant: the same name without -EA), got %r" % (
                 ", ".join(sorted(BOARDS)), cfg["board"]))
    net = cfg["network"]
    _require(net["interface"] in INTERFACES, source, "network.interface",
             "must be one of %s, got %r" % (", ".join(INTERFACES), net["interface"]))
    if net["interface"] == "wifi":
        _require(net["wifi_ssid"] != "", source, "network.wifi_ssid",
                 "must be set when network.interface is \"wifi\" (put it in %s)" % DEVICE_PATH)
    _require(net["connect_timeout_s"] > 0, source, "network.connect_timeout_s", "must be > 0")
    vtn = cfg["vtn"]
    if vtn["url"]:
        _require(vtn["url"].startswith("http://") or vtn["url"].startswith("https://"), source,
                 "vtn.url", "must start with http:// or https:// (or be \"\" to discover the VTN), got %r" % vtn["url"])
    _require(vtn["default_scheme"] in SCHEMES, source, "vtn.default_scheme", "must be \"http\" or \"https\"")
    _require(vtn["discovery_mode"] in DISCOVERY_MODES, source, "vtn.discovery_mode",
             "must be one of %s, got %r" % (", ".join(DISCOVERY_MODES), vtn["discovery_mode"]))
    if vtn["discovery_mode"] in ("static", "local_then_static"):
        _require(vtn["url"] != "", source, "vtn.url",
                 "must be set when vtn.discovery_mode is \"%s\"" % vtn["discovery_mode"])
    for name in vtn["instance_names"]:
        _require(isinstance(name, str) and name, source, "vtn.instance_names",
                 "must be a list of non-empty DNS-SD instance names, e.g. [\"My VTN\"]")
    _require(vtn["watch_interval_s"] >= 1, source, "vtn.watch_interval_s", "must be >= 1")
    _require(vtn["service"].startswith("_") and vtn["service"].count(".") == 1, source, "vtn.service",
             "must look like \"_openadr3._tcp\", got %r" % vtn["service"])
    for key in ("discovery_timeout_s", "poll_interval_s", "http_timeout_s", "retry_max_s"):
        _require(vtn[key] > 0, source, "vtn." + key, "must be > 0")
    _require(vtn["max_body_bytes"] >= 1024, source, "vtn.max_body_bytes", "must be at least 1024")
    for name in vtn["targets"]:
        _require(isinstance(name, str) and 0 < len(name) <= 128, source, "vtn.targets",
                 "must be a list of target strings (1..128 characters), e.g. [\"group-1\"]")
    _require(len(vtn["ven_name"]) <= 128, source, "vtn.ven_name", "must be at most 128 characters")
    if vtn["ca_pem"]:
        _require("-----BEGIN CERTIFICATE-----" in vtn["ca_pem"], source, "vtn.ca_pem",
                 "must hold PEM text (\"-----BEGIN CERTIFICATE-----\\n...\"); or put the file on the device "
                 "and set vtn.ca_file")
    _require((vtn["client_id"] == "") == (vtn["client_secret"] == ""), source, "vtn.client_secret",
             "and vtn.client_id must be set together (or both left empty for a VTN without auth)")
    for name in vtn["program_names"]:
        _require(isinstance(name, str) and name, source, "vtn.program_names", "must be a list of non-empty strings")
    _require(cfg["log_level"] in LOG_LEVELS, source, "log_level",
             "must be one of %s, got %r" % (", ".join(LOG_LEVELS), cfg["log_level"]))
    _require(cfg["watchdog_s"] == 0 or 10 <= cfg["watchdog_s"] <= 3600, source, "watchdog_s",
             "must be 0 (no watchdog) or 10..3600 seconds")
    _check_clock(cfg["clock"], source)
    names = []
    pins = []
    for i, ch in enumerate(cfg["outputs"]):
        where = "outputs[%d]." % i
        _require(ch["name"] != "" and ch["name"] not in names, source, where + "name",
                 "must be a unique, non-empty channel name")
        free = BOARDS[cfg["board"]]
        _require(ch["pin"] in free and ch["pin"] not in pins, source, where + "pin",
                 "must be a free %s GPIO (one of %s) used by one channel only, got %r%s" % (
                     cfg["board"], ", ".join([str(p) for p in free]), ch["pin"],
                     " (GPIO16 and 17 belong to the WROVER's PSRAM; key 'board' names the variant)"
                     if ch["pin"] in (16, 17) and 16 not in free else ""))
        _require(1 <= ch["freq_hz"] <= 40000000, source, where + "freq_hz", "must be 1..40000000")
        _require(ch["price_high"] != ch["price_low"], source, where + "price_high",
                 "must differ from price_low (the mapping needs a range)")
        for k in ("duty_at_low", "duty_at_high", "failsafe_duty"):
            _require(0 <= ch[k] <= 65535, source, where + k, "must be 0..65535 (duty_u16)")
        _require(ch["payload_type"] != "", source, where + "payload_type", "must name a payload type, e.g. \"PRICE\"")
        _check_mapping(ch, source, where)
        names.append(ch["name"])
        pins.append(ch["pin"])


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_mapping(ch, source, where):
    # Tiers, bounds and ramp of one output channel (see ven/pricemap.py).
    for k in ("min_duty", "max_duty"):
        _require(0 <= ch[k] <= 65535, source, where + k, "must be 0..65535 (duty_u16)")
    _require(ch["min_duty"] <= ch["max_duty"], source, where + "max_duty", "must be >= min_duty")
    _require(ch["ramp_limit_per_s"] >= 0, source, where + "ramp_limit_per_s",
             "must be >= 0 (duty_u16 units per second; 0 = no limit)")
    last = None
    for tier in ch["tiers"]:
        _require(isinstance(tier, list) and len(tier) == 2 and _is_number(tier[0]) and isinstance(tier[1], int)
                 and not isinstance(tier[1], bool) and 0 <= tier[1] <= 65535, source, where + "tiers",
                 "must be a list of [threshold, duty_u16] pairs like [[0, 65535], [0.2, 0]], got %r" % (tier,))
        _require(last is None or tier[0] > last, source, where + "tiers", "thresholds must be in ascending order")
        last = tier[0]


def _check_clock(clk, source):
    for entry in clk["ntp_servers"]:
        ok = isinstance(entry, str) and entry != "" and " " not in entry
        if ok and ":" in entry:
            port = entry.rpartition(":")[2]
            ok = port.isdigit() and 1 <= int(port) <= 65535
        _require(ok, source, "clock.ntp_servers",
                 "must be a list of \"host\" or \"host:port\" strings, e.g. [\"pool.ntp.org\"], got %r" % (entry,))
    _require(clk["ntp_interval_s"] >= 60, source, "clock.ntp_interval_s", "must be >= 60 (be kind to public servers)")
    _require(100 <= clk["ntp_timeout_ms"] <= 10000, source, "clock.ntp_timeout_ms", "must be 100..10000")


class _Syntax:
    # Strict JSON grammar check. MicroPython's json module accepts a missing
    # value ('{"a": }' loads as {}) or a missing comma, which would silently
    # drop a user's setting; the config file is small, so check it first.
    def __init__(self, text):
        self.s = text
        self.i = 0

    def fail(self, what):
        line = self.s.count("\n", 0, self.i) + 1
        col = self.i - (self.s.rfind("\n", 0, self.i) + 1) + 1
        raise ValueError("%s at line %d column %d" % (what, line, col))

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] in " \t\r\n":
            self.i += 1

    def peek(self):
        self.ws()
        return self.s[self.i] if self.i < len(self.s) else ""

    def expect(self, c):
        if self.peek() != c:
            self.fail("expected '%s'" % c)
        self.i += 1

    def value(self):
        c = self.peek()
        if c == "{":
            self.seq("}", True)
        elif c == "[":
            self.seq("]", False)
        elif c == '"':
            self.string()
        elif c == "-" or c.isdigit():
            self.number()
        else:
            for lit in ("true", "false", "null"):
                if self.s.startswith(lit, self.i):
                    self.i += len(lit)
                    return
            self.fail("expected a value")

    def seq(self, close, is_object):
        self.i += 1
        if self.peek() == close:
            self.i += 1
            return
        while True:
            if is_object:
                if self.peek() != '"':
                    self.fail("expected a quoted key")
                self.string()
                self.expect(":")
            self.value()
            c = self.peek()
            self.i += 1
            if c == close:
                return
            if c != ",":
                self.i -= 1
                self.fail("expected ',' or '%s'" % close)

    def string(self):
        self.i += 1
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == '"':
                self.i += 1
                return
            if c == "\\":
                self.i += 1
            elif c < " ":
                self.fail("control character in a string")
            self.i += 1
        self.fail("unterminated string")

    def number(self):
        start = self.i
        while self.i < len(self.s) and self.s[self.i] in "+-0123456789.eE":
            self.i += 1
        try:
            float(self.s[start:self.i])
        except ValueError:
            self.fail("bad number")

    def check(self):
        self.value()
        if self.peek():
            self.fail("unexpected text after the JSON value")


def parse_json(text):
    """json.loads with strict syntax on every port; ValueError says where."""
    _Syntax(text).check()
    return json.loads(text)


def _read_json(path, required):
    try:
        f = open(path)
    except OSError:
        if required:
            raise ConfigError("%s: missing; upload configs/default.json to the device as %s" % (path, path))
        return None
    try:
        return parse_json(f.read())
    except ValueError as e:
        raise ConfigError("%s: not valid JSON (%s); check commas, quotes and values" % (path, e))
    finally:
        f.close()


def load(defaults_path=DEFAULTS_PATH, device_path=DEVICE_PATH):
    """Read and validate the configuration; a missing device file means defaults only."""
    defaults = _read_json(defaults_path, True)
    device = _read_json(device_path, False)
    if device is None:
        device = {}
        device_path = defaults_path
    return merge(defaults, device, device_path)
