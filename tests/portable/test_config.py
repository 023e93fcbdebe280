# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
# Both run from a folder holding configs/default.json (the repo root, or the VM's /).
import json
import unittest

from ven.config import ConfigError, load, merge


def defaults():
    with open("configs/default.json") as f:
        return json.load(f)


class ConfigTest(unittest.TestCase):
    def assertConfigError(self, device, *fragments):
        with self.assertRaises(ConfigError) as cm:
            merge(defaults(), device, "config/device.json")
        text = str(cm.exception)
        for frag in fragments:
            self.assertTrue(frag in text, "%r not in %r" % (frag, text))
        return text

    def test_defaults_alone_are_valid(self):
        cfg = merge(defaults(), {})
        self.assertEqual(cfg["outputs"][0]["name"], "load1")
        self.assertEqual(cfg["outputs"][0]["failsafe_duty"], 0)
        self.assertEqual(cfg["button"]["pin"], 34)

    def test_device_overrides_and_channel_defaults(self):
        cfg = merge(defaults(), {"vtn": {"poll_interval_s": 5},
                                 "outputs": [{"name": "a", "pin": 13, "price_high": 1}]})
        self.assertEqual(cfg["vtn"]["poll_interval_s"], 5)
        self.assertEqual(cfg["vtn"]["http_timeout_s"], 10)
        self.assertEqual(cfg["outputs"][0]["pin"], 13)
        self.assertEqual(cfg["outputs"][0]["price_high"], 1)
        self.assertEqual(cfg["outputs"][0]["freq_hz"], 1000)

    def test_unknown_key_names_key_and_fix(self):
        self.assertConfigError({"vtn": {"pol_interval_s": 5}}, "config/device.json", "vtn.pol_interval_s",
                               "did you mean 'vtn.poll_interval_s'")
        self.assertConfigError({"outputs": [{"name": "a", "pinn": 4}]}, "outputs[0].pinn", "outputs[0].pin")
        self.assertConfigError({"zzz": 1}, "'zzz'", "valid keys")

    def test_wrong_types(self):
        self.assertConfigError({"vtn": {"poll_interval_s": "60"}}, "vtn.poll_interval_s", "must be an integer")
        self.assertConfigError({"network": {"interface": 1}}, "network.interface", "must be a string")
        self.assertConfigError({"outputs": [{"name": "a", "pin": 4.0}]}, "outputs[0].pin")
        self.assertConfigError({"outputs": [{"name": "a", "price_low": True}]}, "outputs[0].price_low")
        self.assertConfigError({"outputs": ["a"]}, "outputs[0]")
        self.assertConfigError([], "must hold a JSON object")

    def test_float_keys_accept_ints(self):
        cfg = merge(defaults(), {"outputs": [{"name": "a", "price_low": 0, "price_high": 1}]})
        self.assertEqual(cfg["outputs"][0]["price_low"], 0)

    def test_semantic_checks(self):
        self.assertConfigError({"network": {"interface": "wifi"}}, "network.wifi_ssid")
        self.assertConfigError({"network": {"interface": "lte"}}, "network.interface", "ethernet, wifi")
        self.assertConfigError({"outputs": [{"name": "a", "pin": 12}]}, "outputs[0].pin", "free ESP32-POE GPIO")
        self.assertConfigError({"outputs": [{"name": "a", "pin": 34}]}, "outputs[0].pin")
        self.assertConfigError({"outputs": [{"name": "a", "pin": 4}, {"name": "a", "pin": 13}]}, "outputs[1].name")
        self.assertConfigError({"outputs": [{"name": "a", "pin": 4}, {"name": "b", "pin": 4}]}, "outputs[1].pin")
        self.assertConfigError({"outputs": [{"name": "a", "failsafe_duty": 70000}]}, "outputs[0].failsafe_duty")
        self.assertConfigError({"outputs": [{"name": "a", "price_low": 1, "price_high": 1}]}, "outputs[0].price_high")
        self.assertConfigError({"vtn": {"url": "vtn.local:8080"}}, "vtn.url", "http://")
        self.assertConfigError({"log_level": "LOUD"}, "log_level")
        self.assertConfigError({"watchdog_s": 5}, "watchdog_s", "0 (no watchdog) or 10..3600")

    def test_a_retired_key_still_loads(self):
        # button.poll_ms: BUT1 is latched by its interrupt now; older device files keep working.
        device = {"button": {"poll_ms": 50}}
        cfg = merge(defaults(), device)
        self.assertEqual(cfg["button"], {"pin": 34})
        self.assertEqual(device, {"button": {"poll_ms": 50}})  # the caller's dict is left as it was
        self.assertConfigError({"vtn": {"program_names": ["ok", 3]}}, "vtn.program_names")

    def test_board_default_is_unchanged(self):
        cfg = merge(defaults(), {"outputs": [{"name": "a", "pin": 16}, {"name": "b", "pin": 33}]})
        self.assertEqual(cfg["board"], "ESP32-POE")
        text = self.assertConfigError({"outputs": [{"name": "a", "pin": 12}]}, "outputs[0].pin")
        self.assertTrue(text.endswith("key 'outputs[0].pin' must be a free ESP32-POE GPIO "
                                      "(one of 4, 13, 14, 16, 32, 33) used by one channel only, got 12"), text)

    def test_board_wrover(self):
        wrover = "ESP32-POE-ISO-WROVER"
        cfg = merge(defaults(), {"board": wrover, "outputs": [{"name": "a", "pin": 13}]})
        self.assertEqual(cfg["outputs"][0]["pin"], 13)
        for pin in (16, 17):
            self.assertConfigError({"board": wrover, "outputs": [{"name": "a", "pin": pin}]}, "config/device.json",
                                   "key 'outputs[0].pin'", "free ESP32-POE-ISO-WROVER GPIO",
                                   "one of 4, 13, 14, 32, 33", "got %d" % pin, "PSRAM", "key 'board'")
        self.assertConfigError({"board": wrover, "outputs": [{"name": "a", "pin": 4}, {"name": "b", "pin": 16}]},
                               "outputs[1].pin", "PSRAM")

    def test_board_errors(self):
        self.assertConfigError({"board": "ESP32-POE-WROVR"}, "key 'board'", "must name your Olimex board",
                               "ESP32-POE, ESP32-POE-ISO, ESP32-POE-ISO-WROVER", "without -EA", "'ESP32-POE-WROVR'")
        self.assertConfigError({"board": 1}, "key 'board' must be a string")
        self.assertConfigError({"bord": "ESP32-POE"}, "did you mean 'board'")

    def test_load_reports_bad_json_with_file_name(self):
        with open("test_config_bad.json", "w") as f:
            # A value missing: MicroPython's json tolerates stray commas, not this.
            f.write('{"vtn": {"poll_interval_s": }}')
        try:
            with self.assertRaises(ConfigError) as cm:
                load("configs/default.json", "test_config_bad.json")
            self.assertTrue("test_config_bad.json" in str(cm.exception))
            self.assertTrue("not valid JSON" in str(cm.exception))
        finally:
            import os
            os.remove("test_config_bad.json")

    def test_strict_json_syntax(self):
        from ven.config import parse_json
        self.assertEqual(parse_json(' {"a": [1, -2.5e3, "x\\"y", true, false, null], "b": {}} '),
                         {"a": [1, -2500.0, 'x"y', True, False, None], "b": {}})
        for bad in ('{"a": }', '{"a": 1 "b": 2}', '{"a" 1}', '{"a": [1,]}', '{"a": 1,}', '{a: 1}', "",
                    '{"a": 1}}', '{"a": tru}', '{"a": "x', '{"a": 1.2.3}'):
            with self.assertRaises(ValueError):
                parse_json(bad)
        with self.assertRaises(ValueError) as cm:
            parse_json('{\n  "a": 1\n  "b": 2\n}')
        self.assertTrue("line 3" in str(cm.exception), str(cm.exception))

    def test_discovery_keys(self):
        cfg = merge(defaults(), {})
        # Defaults a user expects: the configured URL wins if set, else mDNS.
        self.assertEqual(cfg["vtn"]["discovery_mode"], "auto")
        self.assertEqual(cfg["vtn"]["instance_names"], [])
        self.assertEqual(cfg["vtn"]["version_prefix"], "3")
        self.assertEqual(cfg["vtn"]["watch_interval_s"], 60)
        url = "http://192.0.2.10:8080/openadr3/3.1.0"
        for mode in ("auto", "local", "local_then_static", "static"):
            cfg = merge(defaults(), {"vtn": {"discovery_mode": mode, "url": url}})
            self.assertEqual(cfg["vtn"]["discovery_mode"], mode)
        cfg = merge(defaults(), {"vtn": {"instance_names": ["My VTN"], "version_prefix": "3.1"}})
        self.assertEqual(cfg["vtn"]["instance_names"], ["My VTN"])

    def test_discovery_key_errors(self):
        self.assertConfigError({"vtn": {"discovery_mode": "mdns"}}, "vtn.discovery_mode", "local_then_static")
        self.assertConfigError({"vtn": {"discovery_mode": "static"}}, "vtn.url", "must be set", "static")
        self.assertConfigError({"vtn": {"discovery_mode": "local_then_static"}}, "vtn.url", "local_then_static")
        self.assertConfigError({"vtn": {"instance_names": ["a", ""]}}, "vtn.instance_names")
        self.assertConfigError({"vtn": {"instance_names": "My VTN"}}, "vtn.instance_names", "must be a list")
        self.assertConfigError({"vtn": {"watch_interval_s": 0}}, "vtn.watch_interval_s")
        self.assertConfigError({"vtn": {"version_prefix": 3}}, "vtn.version_prefix", "must be a string")
        self.assertConfigError({"vtn": {"discovery_mod": "local"}}, "did you mean 'vtn.discovery_mode'")

    def test_load_without_device_file_uses_defaults(self):
        cfg = load("configs/default.json", "no-such-device-file.json")
        self.assertEqual(cfg["network"]["interface"], "ethernet")
        with self.assertRaises(ConfigError):
            load("no-such-defaults.json", "no-such-device-file.json")


    def test_clock_keys(self):
        cfg = merge(defaults(), {})
        # By address: a name would need the firmware's blocking DNS lookup inside the loop.
        self.assertEqual(cfg["clock"]["ntp_servers"], ["162.159.200.1", "162.159.200.123"])
        self.assertEqual(cfg["clock"]["ntp_interval_s"], 3600)
        self.assertTrue(cfg["clock"]["http_date_fallback"])
        cfg = merge(defaults(), {"clock": {"ntp_servers": ["192.0.2.1", "ntp.local:1123"], "ntp_interval_s": 600}})
        self.assertEqual(cfg["clock"]["ntp_servers"][1], "ntp.local:1123")
        self.assertEqual(merge(defaults(), {"clock": {"ntp_servers": []}})["clock"]["ntp_servers"], [])
        self.assertConfigError({"clock": {"ntp_servers": "pool.ntp.org"}}, "clock.ntp_servers", "must be a list")
        self.assertConfigError({"clock": {"ntp_servers": [""]}}, "clock.ntp_servers", "host:port")
        self.assertConfigError({"clock": {"ntp_servers": ["a:99999"]}}, "clock.ntp_servers")
        self.assertConfigError({"clock": {"ntp_servers": [5]}}, "clock.ntp_servers")
        self.assertConfigError({"clock": {"ntp_interval_s": 5}}, "clock.ntp_interval_s", ">= 60")
        self.assertConfigError({"clock": {"ntp_timeout_ms": 50000}}, "clock.ntp_timeout_ms")
        self.assertConfigError({"clock": {"http_date_fallback": 1}}, "clock.http_date_fallback", "true/false")
        self.assertConfigError({"clock": {"ntp_server": []}}, "did you mean 'clock.ntp_servers'")

    def test_channel_mapping_keys(self):
        ch = merge(defaults(), {"outputs": [{"name": "a"}]})["outputs"][0]
        self.assertEqual((ch["tiers"], ch["invert"], ch["min_duty"], ch["max_duty"], ch["ramp_limit_per_s"]),
                         ([], False, 0, 65535, 0))
        ch = merge(defaults(), {"outputs": [{"name": "a", "payload_type": "SIMPLE", "invert": True,
                                             "tiers": [[0, 65535], [1, 30000], [2.5, 0]], "min_duty": 100,
                                             "max_duty": 60000, "ramp_limit_per_s": 6553}]})["outputs"][0]
        self.assertEqual(ch["tiers"][2], [2.5, 0])
        self.assertConfigError({"outputs": [{"name": "a", "tiers": [[0.2, 0], [0.1, 5]]}]}, "outputs[0].tiers", "ascending")
        self.assertConfigError({"outputs": [{"name": "a", "tiers": [[0.2, 70000]]}]}, "outputs[0].tiers")
        self.assertConfigError({"outputs": [{"name": "a", "tiers": [0.2]}]}, "outputs[0].tiers", "[threshold, duty_u16]")
        self.assertConfigError({"outputs": [{"name": "a", "tiers": [[True, 5]]}]}, "outputs[0].tiers")
        self.assertConfigError({"outputs": [{"name": "a", "min_duty": 9, "max_duty": 8}]}, "outputs[0].max_duty")
        self.assertConfigError({"outputs": [{"name": "a", "max_duty": 70000}]}, "outputs[0].max_duty")
        self.assertConfigError({"outputs": [{"name": "a", "ramp_limit_per_s": -1}]}, "outputs[0].ramp_limit_per_s")
        self.assertConfigError({"outputs": [{"name": "a", "ramp_limit_per_s": 0.5}]}, "outputs[0].ramp_limit_per_s")
        self.assertConfigError({"outputs": [{"name": "a", "invert": "yes"}]}, "outputs[0].invert")
        self.assertConfigError({"channel_defaults": {"invert": 1}}, "channel_defaults.invert")


    def test_client_security_keys(self):
        vtn = merge(defaults(), {})["vtn"]
        # HTTPS and verification by default; plain http only when configured.
        self.assertEqual((vtn["default_scheme"], vtn["tls_insecure"], vtn["ca_file"], vtn["ca_pem"]),
                         ("https", False, "", ""))
        # An empty ven_name is the host name.
        self.assertEqual((vtn["scope"], vtn["ven_name"], vtn["targets"]), ("", "openadr-ven", []))
        pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        vtn = merge(defaults(), {"vtn": {"ca_pem": pem, "tls_insecure": True, "scope": "read_targets",
                                         "ven_name": "ven-7", "targets": ["group-1"], "client_id": "a",
                                         "client_secret": "b", "ca_file": "config/vtn-ca.pem"}})["vtn"]
        self.assertEqual((vtn["targets"], vtn["ven_name"], vtn["ca_file"]), (["group-1"], "ven-7", "config/vtn-ca.pem"))

    def test_client_security_key_errors(self):
        self.assertConfigError({"vtn": {"ca_pem": "not a certificate"}}, "vtn.ca_pem", "BEGIN CERTIFICATE")
        self.assertConfigError({"vtn": {"tls_insecure": "yes"}}, "vtn.tls_insecure", "true/false")
        self.assertConfigError({"vtn": {"targets": ["ok", ""]}}, "vtn.targets")
        self.assertConfigError({"vtn": {"targets": "group-1"}}, "vtn.targets", "must be a list")
        self.assertConfigError({"vtn": {"ven_name": "x" * 129}}, "vtn.ven_name", "128")
        self.assertConfigError({"vtn": {"client_id": "ven-1"}}, "vtn.client_secret", "together")
        self.assertConfigError({"vtn": {"tls_insecur": True}}, "did you mean 'vtn.tls_insecure'")


if __name__ == "__main__":
    unittest.main()
