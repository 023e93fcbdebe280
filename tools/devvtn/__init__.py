"""Development VTN: a small in-memory OpenADR 3.1.0 server for tests and the demo.

Host-only (never ships to the device). Run it:

    .venv/bin/python -m tools.devvtn --scenario tools/devvtn/scenarios/day_prices.json \\
        --host 127.0.0.2 --port 8080 [--no-advertise] [--name "Dev VTN"]

Other flags: --hostname LABEL (SRV target LABEL.local.), --base-path
(default openadr3/3.1.0), --openapi-file, --fault K=V[,K=V] (repeatable),
--quirk NAME (repeatable; a real VTN's quirk, see quirks.py), --quiet,
--tls-dir DIR (HTTPS; a CA and server certificate for LABEL.local, the bind
address and localhost are generated at start, the CA PEM goes to
DIR/ca.pem), --spec-version 3.0.1 (the 3.0.1 API shape), --record PATH (every
exchange as a JSON line), --no-gzip. --port 0 picks a free port.

When it serves, it prints exactly one line to stdout,
`devvtn ready http://ADDR:PORT/openadr3/3.1.0`; the request log goes to
stderr. SIGTERM or SIGINT: goodbye over mDNS, stop, exit status 0.

Parts:
    scenario.py       scenario JSON -> programs/events/auth/faults/quirks; hot reload
    app.py            the REST resources (programs, events, vens, resources, reports, auth), no sockets
    server.py         HTTP/1.1 (or HTTPS) on ThreadingHTTPServer, gzip, fault rules, recording
    faults.py         fault rules: 5xx, invalid JSON, delays, chunked, close
    quirks.py         switches for real VTNs' quirks (ETag/304, string status, odd mDNS, ...)
    advertise.py      DNS-SD with python-zeroconf on one address, six TXT keys
    make_scenario.py  writes a day-price scenario (python -m tools.devvtn.make_scenario)
    launch.py         start/stop it as a subprocess from tests and the demo

Scenario format and hot reload: scenario.py. Fault rules: faults.py. Quirks: quirks.py.
"""
