# OpenADR 3 REST client: the requests a VEN makes to its VTN.
#
# Every failure becomes a VtnError that says which request failed and why
# (transport, HTTP status with the server's problem text, or a body that is
# not the JSON asked for), so the loop can log it once and keep the last
# good schedule.
#
#   vtn = VtnClient("http://vtn.local:8080/openadr3/3.1.0", cfg["vtn"], connect_host="192.0.2.7")
#   programs = await vtn.programs()
#   events = await vtn.events(programs[0]["id"])

import json

from ven import http_client
from ven.url import join, quote


class VtnError(Exception):
    pass


def _problem_text(body):
    # Problem details (RFC 7807 / the spec's `problem` schema); status may be a string.
    try:
        p = json.loads(body)
    except ValueError:
        return body[:120].decode("utf-8", "replace") if isinstance(body, bytes) else ""
    if not isinstance(p, dict):
        return ""
    parts = [str(p[k]) for k in ("title", "detail") if p.get(k)]
    return ": ".join(parts)


class VtnClient:
    def __init__(self, base_url, vtn_cfg, connect_host=None):
        self.base_url = base_url
        self.connect_host = connect_host
        self.timeout_s = vtn_cfg["http_timeout_s"]
        self.max_body = vtn_cfg["max_body_bytes"]

    async def get_json(self, path, params=None):
        query = ""
        if params:
            query = "?" + "&".join(["%s=%s" % (k, quote(params[k])) for k in params])
        url = join(self.base_url, path) + query
        try:
            resp = await http_client.request("GET", url, timeout_s=self.timeout_s,
                                             max_body=self.max_body, connect_host=self.connect_host)
        except http_client.HTTPError as e:
            raise VtnError("GET %s: %s" % (url, e))
        if resp.status != 200:
            raise VtnError("GET %s: HTTP %d %s %s" % (url, resp.status, resp.reason, _problem_text(resp.body)))
        try:
            return json.loads(resp.body)
        except ValueError as e:
            raise VtnError("GET %s: invalid JSON (%s)" % (url, e))

    async def _list(self, path, params=None):
        data = await self.get_json(path, params)
        if not isinstance(data, list):
            raise VtnError("GET %s: expected a JSON array, got %s" % (path, type(data).__name__))
        return [item for item in data if isinstance(item, dict)]

    async def programs(self):
        return await self._list("/programs")

    async def events(self, program_id):
        return await self._list("/events", {"programID": program_id})


def select_programs(programs, wanted_names):
    """Programs whose programName is in wanted_names; all of them if the list is empty."""
    if not wanted_names:
        return programs
    return [p for p in programs if p.get("programName") in wanted_names]
