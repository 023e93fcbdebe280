"""The firmware's VTN client (ven.openadr, ven.http_client, ven.tlsconf) against the dev
VTN over HTTPS: certificate and name checks, the explicit insecure setting, plain
http only when configured, keep-alive, gzip. Every exchange that reached the
VTN is checked against the openadr3 models and the OpenAPI file."""
import logging
import zlib

import pytest

from tests.host import openadr_check
from tests.host.client_support import (LogCapture, client, cycle, events, run, scenario, start_vtn, vtn_cfg)
from ven import http_client, tlsconf
from ven.openadr import VtnError

ADDR = "127.0.0.61"
PLAIN_ADDR = "127.0.0.62"


@pytest.fixture(scope="module")
def vtn(tmp_path_factory):
    server = start_vtn(tmp_path_factory.mktemp("tls"), scenario(events=3), ADDR)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def plain_vtn(tmp_path_factory):
    # Auth offered (token endpoint) but not required: plain http without credentials works.
    server = start_vtn(tmp_path_factory.mktemp("plain"), scenario(required=False), PLAIN_ADDR, tls=False)
    try:
        yield server
    finally:
        server.stop()


def other_ca_pem():
    import trustme
    return trustme.CA().cert_pem.bytes().decode()


def since(vtn, mark):
    return vtn.records()[mark:]


def poll(c):
    async def programs(c):
        return await c.programs()

    async def events_1(c):
        return await events(c, "1")
    return run(cycle(c, programs, events_1))


def test_verified_https_with_auth_one_connection_per_cycle(vtn):
    mark = len(vtn.records())
    c = client(vtn.url, vtn_cfg(vtn))
    programs, events = poll(c)
    assert [p["programName"] for p in programs] == ["day-prices"]
    assert sorted(e["id"] for e in events) == ["1", "e000", "e001", "e002"]
    # auth/server, auth/token, programs, events: all on one kept-alive TLS connection.
    assert c.session.connections == 1
    recs = since(vtn, mark)
    assert [(r["method"], r["rel"]) for r in recs] == [
        ("GET", "/auth/server"), ("POST", "/auth/token"), ("GET", "/programs"), ("GET", "/events")]
    assert all(r["authorization"] == "Bearer" for r in recs[2:])
    openadr_check.check_records(recs)
    # Next cycle: a new connection, the token is reused.
    poll(c)
    assert c.session.connections == 2 and c.auth.fetched == 1


def test_the_local_name_is_verified_while_connecting_to_the_address(vtn):
    url = vtn.url.replace(ADDR, "dev-vtn.local")  # the SRV target name is in the certificate
    c = client(url, vtn_cfg(vtn), connect_host=ADDR)
    programs, _ = poll(c)
    assert programs


def test_wrong_ca_is_refused_and_no_credentials_are_sent(vtn):
    mark = len(vtn.records())
    c = client(vtn.url, vtn_cfg(vtn, ca_pem=other_ca_pem()))
    with pytest.raises(VtnError) as info:
        poll(c)
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value) or "certificate" in str(info.value).lower()
    assert since(vtn, mark) == []  # not even /auth/server got through
    assert c.auth.token is None


def test_hostname_mismatch_is_refused(vtn):
    mark = len(vtn.records())
    c = client(vtn.url.replace(ADDR, "someone-else.local"), vtn_cfg(vtn), connect_host=ADDR)
    with pytest.raises(VtnError) as info:
        poll(c)
    assert "someone-else.local" in str(info.value) or "match" in str(info.value).lower()
    assert since(vtn, mark) == []


def test_no_ca_configured_sends_nothing(vtn):
    mark = len(vtn.records())
    with pytest.raises(VtnError, match="no CA certificate configured"):
        poll(client(vtn.url, vtn_cfg(vtn, ca_pem="")))
    assert since(vtn, mark) == []


def test_insecure_setting_works_and_warns_at_every_connection(vtn):
    log = LogCapture()
    c = client(vtn.url, vtn_cfg(vtn, ca_pem="", tls_insecure=True), log=log.logger)
    poll(c)
    poll(c)
    warnings = [m for m in log.lines("WARNING") if "NOT verified" in m]
    assert len(warnings) == c.session.connections == 2


def test_discovered_plain_http_is_refused_unless_configured(plain_vtn):
    mark = len(plain_vtn.records())
    cfg = vtn_cfg(client_id="", client_secret="")
    with pytest.raises(VtnError, match="plain http"):
        poll(client(plain_vtn.url, cfg, source="mdns"))
    assert since(plain_vtn, mark) == []
    # The user chose plain http for discovered VTNs: it is used.
    programs, _ = poll(client(plain_vtn.url, dict(cfg, default_scheme="http"), source="mdns"))
    assert programs


def test_credentials_never_go_over_plain_http_unless_insecure(plain_vtn):
    mark = len(plain_vtn.records())
    with pytest.raises(VtnError, match="refusing to send credentials over plain http"):
        poll(client(plain_vtn.url, vtn_cfg()))
    assert [r["rel"] for r in since(plain_vtn, mark)] == ["/auth/server"]  # no /auth/token
    programs, _ = poll(client(plain_vtn.url, vtn_cfg(tls_insecure=True)))
    assert programs


class GzipShim:
    """MicroPython's `deflate` module, as far as http_client uses it, on zlib."""
    GZIP = 3

    class DeflateIO:
        def __init__(self, stream, fmt):
            assert fmt == GzipShim.GZIP
            self.data = zlib.decompress(stream.read(), 31)
            self.pos = 0

        def read(self, n):
            out = self.data[self.pos:self.pos + n]
            self.pos += len(out)
            return out


def gzip_poll(vtn, **cfg):
    c = client(vtn.url, vtn_cfg(vtn, max_body_bytes=20000, **cfg))
    seen = []

    async def events(c):
        resp = await c.call("GET", "/events", [("programID", "1")])
        seen.append(resp.headers.get("content-encoding"))
        return resp.body
    body, = run(cycle(c, events))
    return c, seen, body


def test_gzip_when_configured_and_the_firmware_has_deflate(vtn, monkeypatch):
    monkeypatch.setattr(http_client, "_deflate", GzipShim)
    c, seen, body = gzip_poll(vtn, gzip=True)
    assert seen == ["gzip"] and body.startswith(b"[{")
    assert c.session.gzip


def test_no_gzip_unless_configured(vtn, monkeypatch):
    # The decompressor wants a 32 KB window from the heap: only on request (vtn.gzip).
    monkeypatch.setattr(http_client, "_deflate", GzipShim)
    c, seen, body = gzip_poll(vtn)
    assert seen == [None] and body.startswith(b"[{") and not c.session.gzip
    # Asked for, but the firmware has no deflate: not offered either.
    monkeypatch.setattr(http_client, "_deflate", None)
    c, seen, body = gzip_poll(vtn, gzip=True)
    assert seen == [None] and not c.session.gzip


def test_date_headers_reach_the_clock_verified_only_over_checked_https(vtn, plain_vtn):
    dates = []

    def on_date(value, verified):
        dates.append((value[-3:], verified))
    poll(client(vtn.url, vtn_cfg(vtn), on_date=on_date))
    assert dates and dates == [("GMT", True)] * len(dates)
    del dates[:]
    poll(client(vtn.url, vtn_cfg(vtn, ca_pem="", tls_insecure=True), on_date=on_date))
    assert dates and all(not v for _, v in dates)
    del dates[:]
    poll(client(plain_vtn.url, vtn_cfg(client_id="", client_secret=""), on_date=on_date))
    assert dates and all(not v for _, v in dates)


def test_pem_to_der_and_context():
    import trustme
    a, b = trustme.CA(), trustme.CA()
    pem = a.cert_pem.bytes().decode() + "junk between\n" + b.cert_pem.bytes().decode()
    ders = tlsconf.pem_to_der(pem)
    assert len(ders) == 2 and all(d[:1] == b"\x30" for d in ders)  # DER SEQUENCE
    ctx = tlsconf.client_context(ders)
    assert ctx.verify_mode == tlsconf.ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == tlsconf.ssl.TLSVersion.TLSv1_2
    for bad in ("", "-----BEGIN CERTIFICATE-----\nAAAA", "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----"):
        with pytest.raises(tlsconf.TLSConfigError):
            tlsconf.pem_to_der(bad)
    with pytest.raises(tlsconf.TLSConfigError, match="vtn.ca_file"):
        tlsconf.load_ca({"ca_file": "/nonexistent/ca.pem"})
    insecure = tlsconf.client_context([], insecure=True)
    assert insecure.verify_mode == tlsconf.ssl.CERT_NONE


logging.getLogger("ven").setLevel(logging.DEBUG)
