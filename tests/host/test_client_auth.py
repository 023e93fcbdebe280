"""OAuth2 client credentials of the firmware's VTN client (ven.auth + ven.openadr) against
the dev VTN over HTTPS: token discovery and request, refresh before expiry, 401 ->
one new token -> one retry, odd token responses, rejected credentials backing off,
VTNs that need no token, and where the token URL comes from (GET /auth/server, else
{base}/auth/token with one warning). The client's clock is fake where expiry matters."""
import json
import urllib.parse

import pytest

from tests.host import openadr_check
from tests.host.client_support import (CLIENT_ID, SECRET, FakeClock, LogCapture, client, cycle, run, scenario,
                                       serving, switchable, vtn_cfg)
from ven.openadr import VtnError

ADDR = "127.0.0.63"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serving(tmp_path_factory.mktemp("auth"), scenario(), ADDR)


@pytest.fixture
def vtn(server):
    """The module's VTN with a scenario of the test's choice: vtn.use(doc)."""
    yield from switchable(server, scenario(), scenario())


def new(vtn):
    return vtn.records()[vtn.mark:]


async def programs(c):
    return await c.programs()


def test_token_request_is_form_encoded_with_scope(vtn):
    c = client(vtn.url, vtn_cfg(vtn, scope="read_targets write_reports"))
    run(cycle(c, programs))
    recs = new(vtn)
    token = [r for r in recs if r["rel"] == "/auth/token"]
    assert len(token) == 1
    assert token[0]["content_type"] == "application/x-www-form-urlencoded"
    form = urllib.parse.parse_qs(token[0]["body"], strict_parsing=True)
    assert form == {"grant_type": ["client_credentials"], "client_id": [CLIENT_ID], "client_secret": [SECRET],
                    "scope": ["read_targets write_reports"]}
    assert "&=/+" not in token[0]["body"]  # the secret's special characters went percent-encoded
    openadr_check.check_records(recs)


def test_401_drops_the_token_fetches_one_and_retries_once(vtn):
    doc = scenario()
    doc["faults"] = [{"path": "/programs", "status": 401, "times": 1}]
    vtn.use(doc)
    c = client(vtn.url, vtn_cfg(vtn))
    result, = run(cycle(c, programs))
    assert result and c.auth.fetched == 2
    assert [(r["rel"], r["status"]) for r in new(vtn)] == [
        ("/auth/server", 200), ("/auth/token", 200), ("/programs", 401), ("/auth/token", 200), ("/programs", 200)]


def test_a_401_that_persists_is_retried_once_only(vtn):
    doc = scenario()
    doc["faults"] = [{"path": "/programs", "status": 401}]
    vtn.use(doc)
    c = client(vtn.url, vtn_cfg(vtn))
    with pytest.raises(VtnError, match="HTTP 401"):
        run(cycle(c, programs))
    rels = [r["rel"] for r in new(vtn)]
    assert rels.count("/programs") == 2 and rels.count("/auth/token") == 2


def test_expiring_token_is_refreshed_once_before_it_expires(vtn):
    vtn.use(scenario(lifetime=100))
    clock = FakeClock()
    c = client(vtn.url, vtn_cfg(vtn), clock=clock)
    run(cycle(c, programs))
    clock.t += 50
    run(cycle(c, programs))
    assert c.auth.fetched == 1  # still fresh
    clock.t += 35  # past the refresh point (lifetime - lifetime/5), before expiry
    run(cycle(c, programs))
    run(cycle(c, programs))
    assert c.auth.fetched == 2
    recs = new(vtn)
    assert [r["rel"] for r in recs].count("/auth/token") == 2
    assert all(r["status"] == 200 for r in recs)  # refreshed before the VTN had to say 401


def test_rejected_credentials_back_off_and_say_why(vtn):
    clock = FakeClock()
    c = client(vtn.url, vtn_cfg(vtn, client_secret="wrong", retry_max_s=8), clock=clock)
    attempts = []
    for step in range(12):
        try:
            run(cycle(c, programs))
        except VtnError as e:
            attempts.append((clock.t, e.quiet, str(e)))
        clock.t += 1
    loud = [a for a in attempts if not a[1]]
    # Asked at t = 0, 2, 6 (back-off 2, 4), then every 8 s (retry_max_s): never in a tight loop.
    assert [a[0] - 1000000 for a in loud] == [0, 2, 6]
    assert len(attempts) == 12
    assert all("invalid_client" in a[2] and "wrong client_secret" in a[2] for a in loud)
    assert [r["rel"] for r in new(vtn)].count("/auth/token") == 3
    assert all("/programs" != r["rel"] for r in new(vtn))


def test_rejection_with_a_403_problem_body(vtn):
    vtn.use(scenario(reject_status=403))
    c = client(vtn.url, vtn_cfg(vtn, client_id="intruder"))
    with pytest.raises(VtnError) as info:
        run(cycle(c, programs))
    assert "HTTP 403" in str(info.value) and "not allowed" in str(info.value)
    assert not info.value.quiet


def test_token_without_expires_in_and_scope_as_array(vtn):
    vtn.use(scenario(omit_expires_in=True, scope=["read_targets", "write_reports"]))
    clock = FakeClock()
    c = client(vtn.url, vtn_cfg(vtn), clock=clock)
    run(cycle(c, programs))
    assert c.auth.token and c.auth.refresh_at is None
    clock.t += 10 ** 6
    run(cycle(c, programs))
    assert c.auth.fetched == 1  # kept until the VTN says 401


def test_no_token_when_discovery_says_no_auth_or_no_credentials(vtn):
    vtn.use(scenario(required=False))
    run(cycle(client(vtn.url, vtn_cfg(vtn), txt={"requires_auth": False, "version": "3.1.0"}), programs))
    run(cycle(client(vtn.url, vtn_cfg(vtn, client_id="", client_secret="")), programs))
    recs = new(vtn)
    assert "/auth/token" not in [r["rel"] for r in recs]
    assert all(r["authorization"] is None for r in recs)
    openadr_check.check_records(recs)


def test_token_required_but_no_credentials_says_what_to_set(vtn):
    with pytest.raises(VtnError, match="set vtn.client_id and vtn.client_secret"):
        run(cycle(client(vtn.url, vtn_cfg(vtn, client_id="", client_secret="")), programs))


# --------------------------------------------------------------------------
# Where the token comes from: GET /auth/server, or {base}/auth/token when that fails


async def poll(c):
    from tests.host.client_support import events
    return await c.programs(), await events(c, "1")


def polls_with_the_fallback(vtn, cycles=2):
    log = LogCapture()
    c = client(vtn.url, vtn_cfg(vtn), log=log.logger)
    for _ in range(cycles):
        (programs, evs), = run(cycle(c, poll))
        assert programs and [e["id"] for e in evs] == ["1"]
    assert c.token_url == vtn.url + "/auth/token"
    warnings = [m for m in log.lines("WARNING") if "token endpoint" in m]
    assert len(warnings) == 1, log.records  # said once, not at every poll
    recs = new(vtn)
    assert [r["rel"] for r in recs].count("/auth/server") == 1
    assert ("POST", "/auth/token", 200) in [(r["method"], r["rel"], r["status"]) for r in recs]
    assert [r["status"] for r in recs if r["rel"] in ("/programs", "/events")] == [200] * (2 * cycles)
    return c, warnings[0]


def test_a_token_url_without_a_host_falls_back_to_the_base(vtn):
    # hostless_token_url: a VTN that builds tokenURL from a broken Host header.
    doc = scenario()
    doc["quirks"] = {"hostless_token_url": True}
    vtn.use(doc)
    c, warning = polls_with_the_fallback(vtn)
    answered = json.loads([r for r in new(vtn) if r["rel"] == "/auth/server"][0]["response"])
    assert answered["tokenURL"] == "https:///openadr3/3.1.0/auth/token"
    assert "no usable host" in warning and "https:///openadr3/3.1.0/auth/token" in warning
    assert c.version == "3.1"


@pytest.mark.parametrize("status", [401, 403, 404])
def test_auth_server_refused_falls_back_to_the_base(vtn, status):
    # 3.0.1 VTNs have no /auth/server (404); some protect it with a token (401, 403).
    doc = scenario()
    doc["faults"] = [{"path": "/auth/server", "status": status}]
    vtn.use(doc)
    c, warning = polls_with_the_fallback(vtn)
    assert "HTTP %d" % status in warning
    assert c.version == "3.1"  # the base path says so; active=true was sent
    assert all(r["query"].get("active") == ["true"] for r in new(vtn) if r["rel"] == "/events")


def test_a_token_url_on_another_host_is_used(vtn):
    # The VTN is reached by its .local name; its token endpoint by address (in the same certificate).
    doc = scenario()
    token_url = "https://%s:%d/openadr3/3.1.0/auth/token" % (ADDR, vtn.port)
    doc["auth"]["token_url"] = token_url
    vtn.use(doc)
    log = LogCapture()
    c = client(vtn.url.replace(ADDR, "dev-vtn.local"), vtn_cfg(vtn), connect_host=ADDR, log=log.logger)
    (programs, evs), = run(cycle(c, poll))
    assert programs and evs and c.token_url == token_url
    assert not log.lines("WARNING")
    assert c.session.connections >= 2  # the token endpoint is another origin: its own (verified) connection
    assert [(r["method"], r["rel"], r["status"]) for r in new(vtn)][:2] == [
        ("GET", "/auth/server", 200), ("POST", "/auth/token", 200)]


def test_a_string_status_in_a_problem_is_read(vtn):
    # string_status: "status": "500" in problem+json.
    doc = scenario()
    doc["quirks"] = {"string_status": True}
    doc["faults"] = [{"path": "/programs", "status": 500}]
    vtn.use(doc)
    with pytest.raises(VtnError) as info:
        run(cycle(client(vtn.url, vtn_cfg(vtn)), programs))
    problem = json.loads([r for r in new(vtn) if r["rel"] == "/programs"][0]["response"])
    assert problem["status"] == "500"
    text = str(info.value)
    assert info.value.status == 500 and "HTTP 500" in text and problem["title"] in text
    assert text.count("GET ") == 1
