# Splitting and joining the http(s) URLs of a VTN, and whether their host may
# be used at all (device-independent).
#
#   split_url("http://vtn.local:8080/x")   # ('http', 'vtn.local', 8080, '/x')
#   valid_host("OpenADR3 VTN._openadr3._tcp.local")   # False: never put in a URL


class URLError(ValueError):
    pass


def split_url(url):
    """'http://host:8080/a/b?x=1' -> ('http', 'host', 8080, '/a/b?x=1')."""
    if not isinstance(url, str):
        raise URLError("URL must be a string, got %r" % (url,))
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        raise URLError("not an http(s) URL: %r" % url)
    slash = rest.find("/")
    if slash < 0:
        hostport, path = rest, "/"
    else:
        hostport, path = rest[:slash], rest[slash:]
    if "@" in hostport:
        raise URLError("credentials in URLs are not supported: %r" % url)
    port = 443 if scheme == "https" else 80
    host = hostport
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise URLError("bad IPv6 host in %r" % url)
        host = hostport[1:end]
        tail = hostport[end + 1:]
        if tail.startswith(":") and tail[1:]:
            port = _port(tail[1:], url)
    elif ":" in hostport:
        host, _, p = hostport.rpartition(":")
        port = _port(p, url)
    if not host:
        raise URLError("no host in %r" % url)
    return scheme, host, port, path


def _port(text, url):
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise URLError("bad port in %r" % url)
    return int(text)


def is_ip(host):
    """True for an IPv4 dotted quad or an IPv6 literal (a host with ':')."""
    if ":" in host:
        return True
    parts = host.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not p.isdigit() or int(p) > 255:
            return False
    return True


_HEX = "0123456789abcdef:."
_LDH = "abcdefghijklmnopqrstuvwxyz0123456789-"


def valid_host(host):
    """May host go into a URL (and so into a Host header)?

    An IPv4 or IPv6 literal, or a host name after RFC 952/1123: labels of 1-63
    letters, digits and hyphens, none starting or ending with a hyphen, at most
    253 characters, one trailing dot allowed, and a last label that is not all
    digits (that would be a bad address). A DNS-SD instance name
    ("My VTN._openadr3._tcp.local", spaces and underscores) is not one.
    """
    if not isinstance(host, str) or not host:
        return False
    host = host.lower()
    if ":" in host:
        for c in host:
            if c not in _HEX:
                return False
        return host.count(":") > 1
    if is_ip(host):
        return True
    if host[-1] == ".":
        host = host[:-1]
    if len(host) > 253:
        return False
    label = ""
    for label in host.split("."):
        if not 0 < len(label) < 64 or label[0] == "-" or label[-1] == "-":
            return False
        for c in label:
            if c not in _LDH:
                return False
    return not label.isdigit()


def make_base_url(scheme, host, port, base_path):
    """Base URL with exactly one slash between parts and none at the end."""
    host = host.rstrip(".")
    if ":" in host:  # IPv6 literal
        host = "[" + host + "]"
    default = 443 if scheme == "https" else 80
    out = "%s://%s" % (scheme, host)
    if port != default:
        out += ":%d" % port
    path = (base_path or "").strip("/")
    if path:
        out += "/" + path
    return out


def join(base_url, path):
    """Join a base URL and an API path ('/events') with exactly one slash."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def quote(text):
    """Percent-encode a query value (RFC 3986 unreserved characters stay)."""
    out = []
    for b in str(text).encode("utf-8"):
        c = chr(b)
        if c.isalpha() and b < 128 or c.isdigit() or c in "-._~":
            out.append(c)
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def local_host(url):
    """The .local host name a URL names (lower case), or None."""
    try:
        host = split_url(url)[1].rstrip(".").lower()
    except URLError:
        return None
    return host if host.endswith(".local") and valid_host(host) else None
