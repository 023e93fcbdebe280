"""What goes onto the board, staged on the PC, and what an upload must change.

stage() assembles the exact upload tree in DEPLOY_DIR (default build/deploy/),
a mirror of the board's filesystem: boot.py and main.py; ven/ and
lib/mdns_client/ (source, or .mpy from mpy-cross -O3 with --mpy, or nothing
with --frozen); lib/logging.py/.mpy when `make setup` staged it; config/
default.json and the PEM that vtn.ca_file names. configs/device.json holds the
user's secrets, so it is sent straight from configs/ and never copied into
build/. The result is a list of Item(board path, PC path, sha256, size).

changes() compares that with the board's listing (tools/deploy/scripts.py
probe) and says what to send to /.upload, what to move into place and what is
stale in what the upload owns (ven/, lib/mdns_client/, lib/logging.*, unless
the board's own library copy is kept).
"""
import hashlib
import os
import shutil
import subprocess

from tools.deploy.scripts import STAGE

MODES = ("source", "mpy", "frozen")
# The board paths of each library staged in build/device_lib (a prefix ending in
# "/" is a package folder).
LIBRARIES = {"mdns_client": ("lib/mdns_client/",), "logging": ("lib/logging.py", "lib/logging.mpy")}


class StageError(Exception):
    pass


class Item:
    def __init__(self, path, local, data):
        self.path = path        # on the board, without the leading "/"
        self.local = local      # the PC file that is sent
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.size = len(data)

    def __repr__(self):
        return "Item(%r, %r)" % (self.path, self.local)


def _sources(folder):
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".pyc") or name.startswith("."):
                continue
            path = os.path.join(root, name)
            out.append((os.path.relpath(path, folder).replace(os.sep, "/"), path))
    return out


def _compile(mpy_cross, src, board_rel, out):
    # -s: the module's name in tracebacks; xtensawin: the ESP32, for @micropython.native.
    r = subprocess.run([mpy_cross, "-O3", "-march=xtensawin", "-s", board_rel, "-o", out, src],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise StageError("mpy-cross could not compile %s:\n%s" % (src, r.stdout.strip()))


def stage(repo, deploy_dir, mode, libraries, ca=None, mpy_cross=None):
    """Assemble deploy_dir for `mode`; return the list of Items (device.json included
    from configs/ when present). libraries: the names (LIBRARIES) to upload from
    build/device_lib; ca: (board path, PC path) of the CA file."""
    if mode not in MODES:
        raise ValueError(mode)
    app = os.path.join(repo, "files_to_load")
    lib = os.path.join(repo, "build", "device_lib")
    configs = os.path.join(repo, "configs")
    shutil.rmtree(deploy_dir, ignore_errors=True)
    os.makedirs(os.path.join(deploy_dir, "config"))
    entries = []  # (board path, PC source)
    for name in sorted(os.listdir(app)):
        src = os.path.join(app, name)
        if os.path.isdir(src):
            if mode != "frozen" and name != "__pycache__":
                entries += [(name + "/" + rel, path) for rel, path in _sources(src)]
        elif name.endswith(".py"):
            entries.append((name, src))
    if mode != "frozen" and "mdns_client" in libraries:
        entries += [("lib/mdns_client/" + rel, path) for rel, path in _sources(os.path.join(lib, "mdns_client"))]
    if mode != "frozen" and "logging" in libraries:
        entries.append(("lib/logging.py", os.path.join(lib, "logging.py")))
    entries.append(("config/default.json", os.path.join(configs, "default.json")))
    if ca:
        entries.append(ca)
    items = []
    for board_rel, src in entries:
        out = os.path.join(deploy_dir, board_rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        # boot.py and main.py stay source: MicroPython only runs them as .py.
        if mode == "mpy" and board_rel.endswith(".py") and "/" in board_rel:
            board_rel = board_rel[:-3] + ".mpy"
            out = out[:-3] + ".mpy"
            _compile(mpy_cross, src, board_rel[:-4] + ".py", out)
        else:
            shutil.copyfile(src, out)
        with open(out, "rb") as f:
            items.append(Item(board_rel, out, f.read()))
    device = os.path.join(configs, "device.json")
    if os.path.isfile(device):
        with open(device, "rb") as f:
            items.append(Item("config/device.json", device, f.read()))
    return items


def parents(path):
    """The folders above a board path, outermost first: "a/b/c.py" -> ["a", "a/b"]."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]


def owned(keep=()):
    """Board paths (prefixes) whose files the upload removes when it has no newer
    copy: the app's ven/, and the libraries except those in `keep` (the board's own)."""
    paths = ["ven/"]
    for name, where in sorted(LIBRARIES.items()):
        if name not in keep:
            paths += where
    return tuple(paths)


def changes(items, board, keep=()):
    """What an upload changes on a board with listing `board` (probe result).

    Returns (send, move, remove, dirs, rmdirs): items to send to STAGE (not on
    the board yet, neither in place nor staged), items to move from STAGE into
    place, stale files to remove, folders to create, folders to remove if empty.
    keep: libraries (LIBRARIES) whose copy on the board stays as it is."""
    files = board["files"]
    stage = STAGE.lstrip("/") + "/"
    mine = owned(keep)
    want = {i.path: i for i in items}
    move = [i for i in items if files.get(i.path) != i.sha256]
    send = [i for i in move if files.get(stage + i.path) != i.sha256]
    remove = []
    for path in sorted(files):
        if path in want or path.startswith(stage):
            continue
        if path.startswith(mine):
            remove.append(path)
    dirs = sorted({d for i in move for d in parents(i.path)}, key=lambda d: (d.count("/"), d))
    kept_dirs = {d for path in want for d in parents(path)}
    trees = tuple(p for p in mine if p.endswith("/"))
    rmdirs = [d for d in board.get("dirs", []) if d.startswith(trees) or d + "/" in trees]
    rmdirs = sorted((d for d in rmdirs if d not in kept_dirs), key=lambda d: (-d.count("/"), d))
    return send, move, remove, dirs, rmdirs
