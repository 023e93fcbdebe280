"""Stage the third-party device libraries into build/device_lib/.

    .venv/bin/python -m tools.stage_device_libs [--dest DIR] [--force]

`make setup` runs this. It downloads the pinned micropython-mdns sdist from
PyPI with pip, checks its SHA-256, and extracts only the `mdns_client/`
package into build/device_lib/mdns_client/ (git-ignored). load_files.sh
uploads it to the board's /lib, firmware/manifest.py freezes it, and the host
simulation imports it from there. Third-party code never enters the repository.

Idempotent: a marker file records what is staged; when it names the pinned
version and every expected file is present, nothing is downloaded.

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
MARKER = ".micropython-mdns.version"
LICENSE_NOTE = "MIT, Christoph Brand, https://github.com/cbrand/micropython-mdns"

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DEST = os.path.join(REPO, "build", "device_lib")


class StageError(Exception):
    pass


def marker_text():
    return "{}=={}\nsha256:{}\nlicense: {}\n".format(DIST, VERSION, SDIST_SHA256, LICENSE_NOTE)


def missing_files(package_dir, expected=EXPECTED_FILES):
    return [name for name in expected if not os.path.isfile(os.path.join(package_dir, name))]


def is_staged(dest):
    """True when dest holds the pinned version with every expected file."""
    try:
        with open(os.path.join(dest, MARKER)) as f:
            if f.read() != marker_text():
                return False
    except FileNotFoundError:
        return False
    return not missing_files(os.path.join(dest, PACKAGE))


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


def extract_package(archive, out_dir, package=PACKAGE, expected=EXPECTED_FILES):
    """Extract regular files under `package/` of the sdist into out_dir/package.

    Returns the sorted list of extracted relative paths. Raises StageError if
    an expected file is missing. Compiled leftovers are not wanted on a board.
    """
    target = os.path.join(out_dir, package)
    written = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            rel = _package_relpath(member.name, package)
            if rel is None or rel.endswith(".pyc") or "__pycache__" in rel.split("/"):
                continue
            path = os.path.join(target, *rel.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            src = tar.extractfile(member)
            with src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
            written.append(rel)
    missing = missing_files(target, expected)
    if missing:
        raise StageError("{} lacks {}/: {}".format(os.path.basename(archive), package, ", ".join(missing)))
    return sorted(written)


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
    with open(marker + ".tmp", "w") as f:
        f.write(marker_text())
    os.replace(marker + ".tmp", marker)
    return "staged {} {} ({} files) in {}".format(DIST, VERSION, len(files), final)


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
