"""Quirks of real OpenADR 3.1.0 VTNs that the development VTN can imitate, one switch each.

A real VTN showed each of these; a VEN must cope with them, so end-to-end
tests switch them on one at a time. They are off by default (the dev VTN
then answers as the specification says).

How to switch them:
    --quirk NAME     on the command line (repeatable): on for the whole run.
    "quirks"         in the scenario (re-read with it, like "faults"):
                     {"etag": true, "string_status": false}. A name the
                     scenario gives wins over the command line, so a test can
                     switch a quirk off mid-run that the command line switched on.
Unknown names or values other than true/false are refused with the list of
known names (at start: exit status 2; on a reload: the old scenario stays).

The quirks:
    srv_instance_target   mDNS: the SRV target is the DNS-SD instance name
                          itself ("OpenADR3 VTN._openadr3._tcp.local." for the
                          instance "OpenADR3 VTN"), not a host name; no A record
                          is published for it; TXT local_url (and openapi_url)
                          name the VTN by IP address, http(s)://<ip>:<port>/<base path>.
    hostless_token_url    GET {base}/auth/server answers a tokenURL without a host,
                          as a VTN that builds it from a broken Host header:
                          "http:///openadr3/3.1.0/auth/token" (scheme, empty host,
                          base path + /auth/token). A scenario auth.token_url still wins.
    ignore_program_filter GET {base}/events ignores the programID query parameter
                          (answers events of every program), as the OpenADR
                          reference implementation does.
    space_timestamps      createdDateTime and modificationDateTime of the objects
                          answered read "2026-12-01 20:39:42" (UTC, a space
                          instead of T, no zone) instead of RFC 3339.
    string_status         problem+json bodies carry "status" as a string ("500"),
                          those of injected faults included.
    conflict_empty_list   a 409 (POST /vens with a venName that exists, POST
                          /resources with a resourceName the VEN has) answers
                          with the body [] (application/json), not a problem.
    etag                  GET answers of collections and objects (programs,
                          events, vens, resources, reports) carry ETag (a hash of
                          the body) and Last-Modified (RFC 7231 date of the newest
                          modificationDateTime in the answer, or the scenario's
                          load time when it has none). A request whose
                          If-None-Match names that ETag (or "*"), or without
                          If-None-Match whose If-Modified-Since is not older than
                          Last-Modified (RFC 7232 section 6), gets 304 Not Modified:
                          no body and no Content-Length, Content-Type or
                          Transfer-Encoding (faults that shape a body, chunked,
                          invalid_json, body_delay, do not touch it). Off: no
                          ETag or Last-Modified, conditional headers ignored.

Where they live: srv_instance_target in advertise.py, etag in server.py (HTTP
semantics), the others in app.py.
"""

QUIRKS = (
    "srv_instance_target",
    "hostless_token_url",
    "ignore_program_filter",
    "space_timestamps",
    "string_status",
    "conflict_empty_list",
    "etag",
)


def check_name(name):
    """The name if it is a known quirk; ValueError naming the known ones otherwise."""
    if name not in QUIRKS:
        raise ValueError("unknown quirk %r (known: %s)" % (name, ", ".join(QUIRKS)))
    return name


def check_switches(switches):
    """Raise ValueError unless switches is a scenario "quirks" object: {name: true|false}."""
    if not isinstance(switches, dict):
        raise ValueError("'quirks' must be an object of name: true|false, not %r" % (switches,))
    for name, value in switches.items():
        check_name(name)
        if not isinstance(value, bool):
            raise ValueError("quirk %r must be true or false, not %r" % (name, value))


def active(cli_names, switches):
    """The quirks in effect: the command line's, then the scenario's switches over them."""
    names = set(cli_names)
    for name, on in switches.items():
        if on:
            names.add(name)
        else:
            names.discard(name)
    return frozenset(names)
