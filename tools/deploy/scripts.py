"""The MicroPython scripts load_files.sh runs on the board, the same with mpremote
(`mpremote run`) and ampy (`ampy run`). Each prints its result as one line
starting with "@@", which the PC parses.

- probe: what is there (SHA-256 of every file the upload manages, plus the
  staging folder /.upload), which modules the image has built in, free space;
  read-only.
- send (ampy only; mpremote copies with `fs cp`): writes files into /.upload,
  deflate-compressed and base64-encoded, a few KB per script so that the
  board compiles each within its heap.
- commit: checks every staged file's SHA-256, and only if all match moves them
  into place (one rename each), removes the stale files and /.upload.

Paths are the board's, absolute. STAGE is the staging folder.
"""
import base64
import json
import zlib

STAGE = "/.upload"
# Roots of what the upload manages; anything else on the board is never touched.
MANAGED_FILES = ("boot.py", "main.py", "lib/logging.py", "lib/logging.mpy")
MANAGED_TREES = ("ven", "lib/mdns_client", "config", STAGE.lstrip("/"))
IMAGE_MODULES = ("ven", "mdns_client", "logging")

_COMMON = '''import os, sys, binascii
try:
    import hashlib
except ImportError:
    hashlib = None


def _isdir(p):
    try:
        return os.stat(p)[0] & 0x4000 != 0
    except OSError:
        return None


def _sha(p):
    h = hashlib.sha256()
    b = bytearray(512)
    m = memoryview(b)
    with open(p, "rb") as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(m[:n])
    return binascii.hexlify(h.digest()).decode()
'''

PROBE = _COMMON + '''import gc, json
R = {"files": {}, "dirs": []}


def _walk(p):
    for e in os.ilistdir(p):
        q = p + "/" + e[0]
        if e[1] & 0x4000:
            R["dirs"].append(q[1:])
            _walk(q)
        else:
            R["files"][q[1:]] = _sha(q)


for _p in %(files)r:
    if _isdir("/" + _p) is False:
        R["files"][_p] = _sha("/" + _p)
for _p in %(trees)r:
    if _isdir("/" + _p):
        R["dirs"].append(_p)
        _walk("/" + _p)


def _image_has(name):
    # Importable with the filesystem's own folders left out of sys.path: frozen in.
    saved = sys.path[:]
    old = {}
    for k in list(sys.modules):
        if k == name or k.startswith(name + "."):
            old[k] = sys.modules.pop(k)
    sys.path[:] = [p for p in saved if p not in ("", ".", "/", "lib", "/lib") and not p.startswith("/lib/")]
    try:
        __import__(name)
        return True
    except ImportError:
        return False
    finally:
        for k in list(sys.modules):
            if k == name or k.startswith(name + "."):
                del sys.modules[k]
        sys.modules.update(old)
        sys.path[:] = saved


R["image"] = [m for m in %(modules)r if _image_has(m)]
try:
    import deflate
    R["deflate"] = hasattr(deflate, "DeflateIO")
except ImportError:
    R["deflate"] = False
R["impl"] = [sys.implementation.name] + list(sys.implementation.version)
R["machine"] = getattr(sys.implementation, "_machine", sys.platform)
gc.collect()
R["heap"] = gc.mem_free() + gc.mem_alloc()
try:
    s = os.statvfs("/")
    R["free"] = s[0] * s[3]
except (OSError, AttributeError):
    R["free"] = -1
R["hashlib"] = hashlib is not None
print("@@PROBE " + json.dumps(R))
'''

COMMIT = _COMMON + '''
NEW = %(new)r
DEL = %(remove)r
DIRS = %(dirs)r
RMDIRS = %(rmdirs)r
S = %(stage)r
bad = []
for p, want in NEW:
    try:
        if _sha(S + "/" + p) != want:
            bad.append(p)
    except OSError:
        bad.append(p)
if bad:
    print("@@BAD " + " ".join(bad))
else:
    for d in DIRS:
        if not _isdir("/" + d):
            os.mkdir("/" + d)
    for p, want in NEW:
        os.rename(S + "/" + p, "/" + p)
    for p in DEL:
        try:
            os.remove("/" + p)
        except OSError:
            pass
    for d in RMDIRS:
        try:
            os.rmdir("/" + d)
        except OSError:
            pass

    def _rmtree(p):
        for e in os.ilistdir(p):
            q = p + "/" + e[0]
            if e[1] & 0x4000:
                _rmtree(q)
            else:
                os.remove(q)
        os.rmdir(p)

    if _isdir(S):
        _rmtree(S)
    print("@@DONE %%d %%d" %% (len(NEW), len(DEL)))
'''

# One line (it goes on mpremote's command line): each folder unless it exists, parents first.
MKDIRS = "import os; [os.mkdir(d) for d in %r if d.rsplit('/', 1)[1] not in os.listdir(d.rsplit('/', 1)[0] or '/')]"

SEND_HEAD = '''import os, binascii
try:
    import deflate, io
except ImportError:
    deflate = None


def _d(p):
    i = 0
    while True:
        i = p.find("/", i + 1)
        if i < 0:
            return
        try:
            os.mkdir(p[:i])
        except OSError:
            pass


def _w(p, first, z, data, note):
    data = binascii.a2b_base64(data)
    if first:
        _d(p)
    f = open(p, "wb" if first else "ab")
    try:
        if z:
            r = deflate.DeflateIO(io.BytesIO(data), deflate.ZLIB)
            b = bytearray(256)
            m = memoryview(b)
            while True:
                n = r.readinto(b)
                if not n:
                    break
                f.write(m[:n])
        else:
            f.write(data)
    finally:
        f.close()
    if note:
        print(note)


'''

# Script text per ampy run: the board keeps the whole script in RAM and compiles
# it (ampy has no raw paste), so a board without PSRAM (~110 KB of heap) gets
# 12 KB scripts, one with PSRAM 32 KB ones.
SCRIPT_BUDGET = 12 * 1024
SCRIPT_BUDGET_PSRAM = 32 * 1024
SEGMENT_MAX = 8 * 1024  # base64 of one compressed piece of a file
WBITS = 12  # a 4 KB deflate window: what the board allocates to inflate


def probe():
    return PROBE % {"files": MANAGED_FILES, "trees": MANAGED_TREES, "modules": IMAGE_MODULES}


def commit(new, remove, dirs, rmdirs):
    """new: [(path, sha256)] staged under STAGE; remove: stale paths; dirs: folders
    to create (parents first); rmdirs: folders to remove if empty (deepest first)."""
    return COMMIT % {"new": [tuple(x) for x in new], "remove": list(remove), "dirs": list(dirs),
                     "rmdirs": list(rmdirs), "stage": STAGE}


def mkdirs(dirs):
    """Create absolute folders `dirs` (parents listed before children) unless they exist."""
    return MKDIRS % (list(dirs),)


def _segments(data, compress):
    # Pieces of a file whose encoded form fits SEGMENT_MAX: (compressed?, base64 text).
    step = 16 * 1024 if compress else SEGMENT_MAX * 3 // 4
    pos = 0
    out = []
    while True:
        piece = data[pos:pos + step]
        if compress:
            c = zlib.compressobj(9, zlib.DEFLATED, WBITS)
            enc = base64.b64encode(c.compress(piece) + c.flush()).decode()
        else:
            enc = base64.b64encode(piece).decode()
        if len(enc) > SEGMENT_MAX and step > 512:
            step //= 2
            continue
        out.append((1 if compress else 0, enc))
        pos += len(piece)
        if pos >= len(data):
            return out


def send_batches(files, compress, budget=SCRIPT_BUDGET):
    """ampy: scripts that write files (path, bytes, number) into STAGE. Each file's
    last piece prints "@@SENT number path"; returns a list of script texts."""
    scripts = []
    body = []
    size = len(SEND_HEAD)
    for path, data, number in files:
        segs = _segments(data, compress)
        for i, (z, enc) in enumerate(segs):
            note = "@@SENT %d %s" % (number, path) if i == len(segs) - 1 else ""
            line = "_w(%r, %d, %d, %r, %r)\n" % (STAGE + "/" + path, 1 if i == 0 else 0, z, enc, note)
            if body and size + len(line) > budget:
                scripts.append(SEND_HEAD + "".join(body))
                body = []
                size = len(SEND_HEAD)
            body.append(line)
            size += len(line)
    if body:
        scripts.append(SEND_HEAD + "".join(body))
    return scripts


def parse(output, tag):
    """The payload of the last "@@TAG ..." line of a script's output, or None."""
    found = None
    for line in output.splitlines():
        line = line.strip("\r\x04")
        if line.startswith("@@" + tag + " ") or line == "@@" + tag:
            found = line[len(tag) + 3:]
    return found


def parse_probe(output):
    text = parse(output, "PROBE")
    return None if text is None else json.loads(text)
