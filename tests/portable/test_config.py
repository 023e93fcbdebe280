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
        self.assertConfigError({"button": {"poll_ms": 500}}, "button.poll_ms", "100 ms")
        self.assertConfigError({"vtn": {"program_names": ["ok", 3]}}, "vtn.program_names")

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

    def test_load_without_device_file_uses_defaults(self):
        cfg = load("configs/default.json", "no-such-device-file.json")
        self.assertEqual(cfg["network"]["interface"], "ethernet")
        with self.assertRaises(ConfigError):
            load("no-such-defaults.json", "no-such-device-file.json")


if __name__ == "__main__":
    unittest.main()
