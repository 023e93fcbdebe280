"""Stage the third-party device libraries into build/device_lib/.

    .venv/bin/python -m tools.stage_device_libs [--dest DIR] [--force]

`make setup` runs this. Third-party code never enters the repository; what
the board needs is staged here (git-ignored) from a package registry, pinned
by version and SHA-256, so an upload needs no network:

- micropython-mdns: the pinned sdist from PyPI (pip download). Only the
  modules the firmware imports are staged (constants, parser, structs, util),
  each unmodified, under a package `__init__.py` written here that imports
  nothing: the published one imports the library's Client (socket,
  select.select, about 7 KB of heap on the board), which the VEN never uses.
- micropython-lib `logging`: from MicroPython's package index
  (micropython.org/pi/v2, what `mip install` uses), or, where that is not
  reachable (CI), from the MicroPython source tarball beside the checkout
  (../shared/micropython), both checked against the pinned SHA-256. If
  neither is there it is not staged and a warning says how to get it.

load_files.sh uploads build/device_lib/ to the board's /lib,
firmware/manifest.py freezes it, and the host simulation imports it from
there. Idempotent: marker files record what is staged; when they name the
pins and every file is present, nothing is downloaded.

micropython-mdns 1.8.0 calls `.encode("UTF-8")`, which MicroPython after 1.28
rejects. It is staged unmodified on purpose: the supported firmware range
(1.24 to 1.28, target 1.27) is documented in firmware/README.md instead.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

DIST = "micropython-mdns"
VERSION = "1.8.0"
# PyPI never replaces a released file, so the hash pins the exact bytes.
SDIST_SHA256 = "ebdae77acebebf05a409074bc365f20de4ea40f9ebb19ed76904d3f3d4728866"
PACKAGE = "mdns_client"
# Every module of the package as published in 1.8.0. A missing one means the
# sdist is not what this project was written against.
EXPECTED_FILES = (
    "__init__.py",
    "client.py",
    "constants.py",
    "parser.py",
    "responder.py",
    "structs.py",
    "util.py",
    "service_discovery/__init__.py",
    "service_discovery/discovery.py",
    "service_discovery/service_monitor.py",
    "service_discovery/service_response.py",
    "service_discovery/txt_discovery.py",
)
# What the firmware imports (ven/mdns_query.py, ven/mdns_cache.py, ven/discovery.py).
DEVICE_MODULES = ("constants.py", "parser.py", "structs.py", "util.py")
INIT_TEXT = (
    "# Staged by tools/stage_device_libs.py: only the modules of micropython-mdns %s\n"
    "# that the VEN imports (%s), unmodified. The published package __init__\n"
    "# imports the library's Client (socket, select.select, ~7 KB of heap), which the\n"
    "# VEN never uses, so this one imports nothing.\n" % (VERSION, ", ".join(DEVICE_MODULES)))
MARKER = ".micropython-mdns.version"

# micropython-lib logging, the version micropython 1.27.0 pins (lib/micropython-lib 6ae440a8).
LOGGING_VERSION = "0.6.2"
LOGGING_SHA256 = "5438dacb218d7d33e73eee873f280a409c95166f2c557f859342f18b92744fc2"
MIP_INDEX = "https://micropython.org/pi/v2"
LOGGING_MARKER = ".logging.version"
SHARED_TARBALL = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                              "shared", "micropython", "micropython-1.27.0-src.tar.xz")
TARBALL_LOGGING = "micropython-1.27.0/lib/micropython-lib/python-stdlib/logging/logging.py"
LICENSE_NOTE = "MIT, Christoph Brand, https://github.com/cbrand/micropython-mdns"

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DEST = os.path.join(REPO, "build", "device_lib")


class StageError(Exception):
    pass


def marker_text():
    return "{}=={}\nsha256:{}\nmodules: {}\nlicense: {}\n".format(
        DIST, VERSION, SDIST_SHA256, " ".join(DEVICE_MODULES), LICENSE_NOTE)


def missing_files(package_dir, expected=DEVICE_MODULES + ("__init__.py",)):
    return [name for name in expected if not os.path.isfile(os.path.join(package_dir, name))]


def _marker_says(path, text):
    try:
        with open(path) as f:
            return f.read() == text
    except FileNotFoundError:
        return False


def is_staged(dest):
    """True when dest holds the pinned version with every device module."""
    return _marker_says(os.path.join(dest, MARKER), marker_text()) and not missing_files(os.path.join(dest, PACKAGE))


def _write_marker(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()


def download_sdist(workdir):
    """Fetch the pinned sdist with the venv's pip; return the archive path."""
    cmd = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--no-binary", ":all:",
        "--disable-pip-version-check", "--quiet",
        "--dest", workdir,
        "{}=={}".format(DIST, VERSION),
    ]
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise StageError(
            "pip download {}=={} failed (network or PyPI unavailable?):\n{}".format(
                DIST, VERSION, result.stdout.strip()
            )
        )
    archives = [n for n in os.listdir(workdir) if n.endswith(".tar.gz")]
    if len(archives) != 1:
        raise StageError("expected one sdist in {}, found {}".format(workdir, sorted(os.listdir(workdir))))
    return os.path.join(workdir, archives[0])


def verify_sha256(path, expected=None):
    expected = expected or SDIST_SHA256
    actual = sha256_of(path)
    if actual != expected:
        raise StageError("{}: sha256 {} does not match the pinned {}".format(path, actual, expected))


def _package_relpath(member_name, package):
    """Path inside `package` for an sdist member, or None if it lies elsewhere.

    sdist members look like "<dist>-<version>/<package>/...". Anything that
    is not plainly under the package folder (absolute paths, "..") is skipped,
    so a malformed archive can never write outside the staging folder.
    """
    parts = member_name.replace("\\", "/").split("/")
    if len(parts) < 3 or parts[1] != package or member_name.startswith("/"):
        return None
    rel = parts[2:]
    if not rel[-1] or any(p in ("", ".", "..") for p in rel):
        return None
    return "/".join(rel)


def extract_package(archive, out_dir, package=PACKAGE, expected=EXPECTED_FILES, wanted=DEVICE_MODULES):
    """Extract the `wanted` modules under `package/` of the sdist into
    out_dir/package, plus a package __init__ that imports nothing (INIT_TEXT).

    Returns the sorted list of staged relative paths. Raises StageError if a
    file the published package has (`expected`) is missing from the sdist.
    """
    target = os.path.join(out_dir, package)
    os.makedirs(target, exist_ok=True)
    present = []
    written = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            rel = _package_relpath(member.name, package)
            if rel is None:
                continue
            present.append(rel)
            if rel not in wanted:
                continue
            src = tar.extractfile(member)
            with src, open(os.path.join(target, rel), "wb") as dst:
                shutil.copyfileobj(src, dst)
            written.append(rel)
    missing = [name for name in expected if name not in present]
    if missing:
        raise StageError("{} lacks {}/: {}".format(os.path.basename(archive), package, ", ".join(missing)))
    with open(os.path.join(target, "__init__.py"), "w") as f:
        f.write(INIT_TEXT)
    return sorted(written + ["__init__.py"])


def stage(dest=DEFAULT_DEST, force=False, download=None):
    """Stage mdns_client into dest. Returns a one-line summary.

    `download(workdir) -> archive path` defaults to download_sdist (tests
    pass a stand-in so they never reach the network).
    """
    download = download or download_sdist
    if not force and is_staged(dest):
        return "{} {} already staged in {}".format(DIST, VERSION, dest)
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stage-", dir=dest) as work:
        dl = os.path.join(work, "dl")
        os.mkdir(dl)
        archive = download(dl)
        verify_sha256(archive)
        new = os.path.join(work, "new")
        files = extract_package(archive, new)
        # Swap in the complete tree only now, so an interrupted run never
        # leaves a half-written package behind a valid marker.
        final = os.path.join(dest, PACKAGE)
        marker = os.path.join(dest, MARKER)
        if os.path.exists(marker):
            os.remove(marker)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.rename(os.path.join(new, PACKAGE), final)
    _write_marker(marker, marker_text())
    return "staged {} {} ({} files) in {}".format(DIST, VERSION, len(files), final)


# --- micropython-lib logging -------------------------------------------------

def logging_marker_text():
    return "logging=={}\nsha256:{}\nlicense: MIT, micropython-lib\n".format(LOGGING_VERSION, LOGGING_SHA256)


def logging_staged(dest):
    return _marker_says(os.path.join(dest, LOGGING_MARKER), logging_marker_text()) and os.path.isfile(
        os.path.join(dest, "logging.py"))


def fetch_logging_from_index(timeout=15):
    """logging.py of the pinned version from micropython.org's package index (as mip fetches it)."""
    import json
    import urllib.request
    url = "{}/package/py/logging/{}.json".format(MIP_INDEX, LOGGING_VERSION)
    with urllib.request.urlopen(url, timeout=timeout) as r:
        meta = json.loads(r.read().decode("utf-8"))
    short = dict(meta["hashes"])["logging.py"]
    with urllib.request.urlopen("{}/file/{}/{}".format(MIP_INDEX, short[:2], short), timeout=timeout) as r:
        return r.read()


def fetch_logging_from_tarball(tarball=SHARED_TARBALL):
    """logging.py from the MicroPython source tarball beside the checkout (CI has no internet)."""
    import tarfile as _tar
    with _tar.open(tarball, "r:xz") as tar:
        return tar.extractfile(TARBALL_LOGGING).read()


def stage_logging(dest=DEFAULT_DEST, force=False, sources=None):
    """Stage logging.py into dest; returns a one-line summary. Never raises:
    without a source the summary says what is missing and how to get it."""
    if not force and logging_staged(dest):
        return "logging {} already staged in {}".format(LOGGING_VERSION, dest)
    if sources is None:
        sources = [("micropython.org", fetch_logging_from_index)]
        if os.path.isfile(SHARED_TARBALL):
            sources.append((SHARED_TARBALL, fetch_logging_from_tarball))
    problems = []
    for name, fetch in sources:
        try:
            data = fetch()
        except (OSError, ValueError, KeyError, EOFError) as e:  # no network, no file, odd index
            problems.append("{}: {}".format(name, e))
            continue
        if hashlib.sha256(data).hexdigest() != LOGGING_SHA256:
            problems.append("{}: sha256 does not match the pinned {}".format(name, LOGGING_SHA256))
            continue
        os.makedirs(dest, exist_ok=True)
        path = os.path.join(dest, "logging.py")
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
        _write_marker(os.path.join(dest, LOGGING_MARKER), logging_marker_text())
        return "staged logging {} from {} in {}".format(LOGGING_VERSION, name, dest)
    return ("WARNING: micropython-lib logging {} not staged ({}); the board needs it unless its image has it "
            "frozen in: run `make setup` again with internet access, or `mpremote mip install logging@{}`"
            .format(LOGGING_VERSION, "; ".join(problems), LOGGING_VERSION))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.stage_device_libs", description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default=DEFAULT_DEST, help="staging folder (default: build/device_lib)")
    parser.add_argument("--force", action="store_true", help="download and extract again even if staged")
    args = parser.parse_args(argv)
    try:
        print(stage(args.dest, force=args.force))
    except StageError as e:
        print("stage_device_libs: {}".format(e), file=sys.stderr)
        return 1
    print(stage_logging(args.dest, force=args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
