# DNS-SD TXT metadata of a local VTN (OpenADR 3.1.0 Definition, "Discovery and
# Configuration of Local VTNs") and the base URL it leads to. Device-independent.
#
# The six spec keys are version, base_path, local_url, program_names,
# requires_auth and openapi_url. None is required: real VTNs omit keys, change
# their case, or publish bare flags, and nothing here may raise on such input.
#
#   info = parse_txt(["version=3.1.0", "base_path=/openadr3/3.1.0", "requires_auth"])
#   url = base_url(info, "myvtn.local.", 8443, "https")
#   urls = base_urls(info, "myvtn.local.", 8443, "https")   # best first, name before IP
#   version_matches("3.1.0", "3.1")   # True; None when the VTN states no version

from ven.url import is_ip, make_base_url, split_url, URLError, valid_host

_TRUE = ("true", "1", "yes", "y", "on")
_FALSE = ("false", "0", "no", "n", "off")


def _text(item):
    if isinstance(item, (bytes, bytearray)):
        try:
            return bytes(item).decode("utf-8")
        except UnicodeError:
            return None
    return item if isinstance(item, str) else None


def parse_txt(entries):
    """TXT strings ('key=value' or bare 'key') -> dict of the six keys, normalised.

    Keys are matched case-insensitively; the first occurrence of a key wins
    (RFC 6763 section 6.4). Result: version (str or None), base_path (str,
    no leading/trailing slash), local_url (str or None), program_names (list of
    str), requires_auth (True, False or None when not stated or unreadable),
    openapi_url (str or None), flags (set of bare keys, lower case).
    """
    raw = {}
    flags = set()
    for item in entries or ():
        s = _text(item)
        if not s:
            continue
        key, eq, value = s.partition("=")
        key = key.strip().lower()
        if not key:
            continue
        if not eq:
            flags.add(key)
            continue
        if key not in raw:
            raw[key] = value.strip()
    info = {
        "version": raw.get("version") or None,
        "base_path": (raw.get("base_path") or "").strip("/"),
        "local_url": raw.get("local_url") or None,
        "program_names": [n.strip() for n in raw.get("program_names", "").split(",") if n.strip()],
        "requires_auth": None,
        "openapi_url": raw.get("openapi_url") or None,
        "flags": flags,
    }
    auth = raw.get("requires_auth")
    if auth is not None:
        auth = auth.lower()
        if auth in _TRUE:
            info["requires_auth"] = True
        elif auth in _FALSE:
            info["requires_auth"] = False
    elif "requires_auth" in flags:
        info["requires_auth"] = True
    return info


def base_urls(info, srv_target, srv_port, default_scheme):
    """Candidate VTN base URLs, best first; empty if none is usable.

    local_url wins when it is an http(s) URL with a valid host (ven.url.valid_host).
    The spec asks VENs to favour the VTN's .local name over its IP address
    (addresses change with DHCP), so a local_url naming an IP literal comes
    second, after the same URL with the SRV target's name in its place. Without
    a usable local_url the URL is built from the SRV target, port and base_path.
    An SRV target that is not a valid host name (some VTNs put their DNS-SD
    instance name there) never goes into a URL.
    """
    out = []
    target = (srv_target or "").rstrip(".")
    if not valid_host(target):
        target = None
    local = info.get("local_url")
    parts = None
    if local:
        try:
            parts = split_url(local)
        except URLError:
            pass
    if parts and valid_host(parts[1]):
        if target and is_ip(parts[1]) and not is_ip(target):
            out.append(make_base_url(parts[0], target, parts[2], parts[3]))
        out.append(local.rstrip("/"))
    elif target and srv_port:
        out.append(make_base_url(default_scheme, target, srv_port, info.get("base_path")))
    return out


def base_url(info, srv_target, srv_port, default_scheme):
    """The preferred VTN base URL (first of base_urls), or None if none is usable."""
    urls = base_urls(info, srv_target, srv_port, default_scheme)
    return urls[0] if urls else None


def _version_parts(text):
    text = text.strip().lower()
    if text.startswith("v"):
        text = text[1:]
    return [p for p in text.split(".") if p != ""]


def version_matches(version, prefix):
    """Does the TXT version start with prefix, component by component?

    '3.1' matches '3.1', '3.1.0' and '3.1.2' but not '3.10'; '3' matches every
    3.x; an empty prefix matches anything. A leading 'v' is ignored. Returns
    None when the VTN states no version (the caller decides what that means).
    """
    want = _version_parts(prefix or "")
    if not want:
        return True
    if not version:
        return None
    have = _version_parts(version)
    return have[:len(want)] == want


def txt_from_mapping(mapping):
    """mdns_client's txt_records ({key: [values]}) -> TXT strings, for parse_txt."""
    out = []
    for key in mapping or {}:
        values = mapping[key]
        if isinstance(values, str):
            values = [values]
        for v in values or ():
            out.append("%s=%s" % (key, v))
    return out


def split_txt_rdata(rdata):
    """Raw TXT rdata (length-prefixed strings) -> list of str; undecodable or
    truncated strings are skipped, never raised on (the packet comes from anyone
    on the LAN)."""
    out = []
    i = 0
    n = len(rdata)
    while i < n:
        length = rdata[i]
        i += 1
        if i + length > n:
            break
        try:
            s = bytes(rdata[i:i + length]).decode("utf-8")
        except UnicodeError:
            s = None
        if s:
            out.append(s)
        i += length
    return out
