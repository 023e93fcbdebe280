"""The board's configuration, checked on the PC before anything is sent.

The firmware's own module (files_to_load/ven/config.py, which runs unchanged on
CPython) loads configs/default.json and configs/device.json under the names
they have on the board (config/default.json, config/device.json), so a mistake
is reported with exactly the line the board would print at start:

    CONFIG ERROR: config/device.json: unknown key 'vtn.pol_interval_s'; did you mean 'vtn.poll_interval_s'?

`vtn.ca_file` names a PEM file on the board; configs/NAME goes there as
config/NAME, so the setting must read "config/NAME" and configs/NAME must exist.
"""
import contextlib
import os
import sys
import tempfile

BOARD_DEFAULTS = "config/default.json"
BOARD_DEVICE = "config/device.json"


class ConfigProblem(Exception):
    """The configuration would stop the board, or a file it names is missing."""


def _config_module(app_dir):
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    from ven import config
    return config


@contextlib.contextmanager
def _as_on_the_board(configs_dir):
    # config/default.json and config/device.json as links to the PC's files (no
    # copy of the secrets), in a folder that stands in for the board's root.
    with tempfile.TemporaryDirectory(prefix="ven-config-") as root:
        os.mkdir(os.path.join(root, "config"))
        os.symlink(os.path.abspath(os.path.join(configs_dir, "default.json")), os.path.join(root, BOARD_DEFAULTS))
        device = os.path.join(configs_dir, "device.json")
        if os.path.exists(device):
            os.symlink(os.path.abspath(device), os.path.join(root, BOARD_DEVICE))
        here = os.getcwd()
        os.chdir(root)
        try:
            yield
        finally:
            os.chdir(here)


def check(configs_dir, app_dir):
    """The merged configuration the board would run with; ConfigProblem with the
    board's own "CONFIG ERROR: ..." line if it would refuse it."""
    if not os.path.isfile(os.path.join(configs_dir, "default.json")):
        raise ConfigProblem("%s is missing (it is part of the repository: restore it with git)"
                            % os.path.join(configs_dir, "default.json"))
    config = _config_module(app_dir)
    with _as_on_the_board(configs_dir):
        try:
            return config.load(BOARD_DEFAULTS, BOARD_DEVICE)
        except config.ConfigError as e:
            raise ConfigProblem("CONFIG ERROR: %s" % e)


def ca_file(cfg, configs_dir):
    """(board path, PC path) of the PEM that vtn.ca_file names, or None."""
    name = cfg["vtn"]["ca_file"]
    if not name:
        return None
    board = name.lstrip("/")
    if not board.startswith("config/") or board.count("/") != 1 or board == "config/":
        raise ConfigProblem(
            "vtn.ca_file is %r: load_files.sh uploads configs/NAME as config/NAME, so put the PEM file in "
            "configs/ and set \"ca_file\": \"config/NAME\" (e.g. \"config/vtn-ca.pem\")" % name)
    pc = os.path.join(configs_dir, board.split("/", 1)[1])
    if board in (BOARD_DEFAULTS, BOARD_DEVICE):
        raise ConfigProblem("vtn.ca_file is %r, a configuration file, not a PEM certificate" % name)
    if not os.path.isfile(pc):
        raise ConfigProblem("vtn.ca_file names %s, but %s does not exist: copy the VTN's CA certificate (PEM) "
                            "there" % (board, pc))
    with open(pc, "rb") as f:
        head = f.read(1 << 20)
    if b"-----BEGIN CERTIFICATE-----" not in head:
        raise ConfigProblem("%s (vtn.ca_file) does not hold a PEM certificate (no \"-----BEGIN CERTIFICATE-----\" "
                            "line)" % pc)
    return board, pc


def summary(cfg):
    """One line: what the board will do with this configuration."""
    net = cfg["network"]
    vtn = cfg["vtn"]
    where = vtn["url"] if vtn["url"] and vtn["discovery_mode"] in ("auto", "static") else (
        "found by mDNS (%s)" % vtn["service"])
    outs = ", ".join("%s on GPIO%d" % (o["name"], o["pin"]) for o in cfg["outputs"])
    board = cfg.get("board")
    return "%s%s; VTN %s; outputs: %s" % ("%s, " % board if board else "", net["interface"], where, outs or "none")
