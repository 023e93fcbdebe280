# OAuth 2.0 client credentials for the VTN (OpenADR 3.1.0 "Security"):
# token state, the token request body, reading token responses, back-off.
# No I/O here: ven.openadr does the requests and asks this module what to do.
#
# - Without client_id/client_secret (or when discovery says requires_auth is
#   False) the API is called without a token ("Non-Authenticating VTNs").
# - expires_in, when present, schedules a refresh before expiry (a fifth of
#   the lifetime early, at most a minute); without it the token is used until
#   the VTN answers 401. On 401 the caller drops the token, fetches a new one
#   and retries once.
# - Lenient about token responses: scope as an array, no expires_in, an
#   expires_in string, any case of "Bearer".
# - A rejected credential (400/401/403 from the token endpoint, authError or
#   problem body) blocks new token requests for a back-off that doubles up to
#   retry_max_s; AuthError.attempted tells whether the server was asked just
#   now, so the caller logs each rejection once, not at every poll.
#
#   a = Auth(cfg["vtn"], clock=time.time)
#   a.enabled, a.needs_token(), a.form(), a.accept(json_obj), a.reject(status, text)

import time

from ven import retry
from ven.url import quote


class AuthError(Exception):
    def __init__(self, text, attempted=True):
        super().__init__(text)
        self.attempted = attempted


def _form_quote(text):
    # application/x-www-form-urlencoded: percent-encode everything but unreserved.
    return quote(text)


def error_text(obj, raw=b""):
    """The server's words from an authError or problem body (or raw text)."""
    if isinstance(obj, dict):
        parts = []
        for k in ("error", "error_description", "title", "detail"):
            v = obj.get(k)
            if isinstance(v, str) and v:
                parts.append(v)
        if parts:
            return ": ".join(parts)
    if isinstance(raw, bytes) and raw:
        return raw[:120].decode("utf-8", "replace")
    return ""


class Auth:
    def __init__(self, vtn_cfg, requires_auth=None, clock=time.time):
        self.client_id = vtn_cfg.get("client_id", "")
        self.client_secret = vtn_cfg.get("client_secret", "")
        self.scope = vtn_cfg.get("scope", "")
        self.retry_max_s = vtn_cfg.get("retry_max_s", 300)
        self.clock = clock
        # requires_auth False from discovery: the VTN says it needs no token.
        self.enabled = bool(self.client_id and self.client_secret) and requires_auth is not False
        self.token = None  # type: str | None
        self.refresh_at = None  # type: int | float | None
        self.rejections = 0
        self.blocked_until = 0  # type: int | float
        self.last_error = ""
        self.fetched = 0  # tokens obtained so far

    def header(self):
        """{"Authorization": "Bearer ..."} when a token is held, else {}."""
        if self.token is None:
            return {}
        return {"Authorization": "Bearer " + self.token}

    def needs_token(self):
        if not self.enabled:
            return False
        if self.token is None:
            return True
        return self.refresh_at is not None and self.clock() >= self.refresh_at

    def drop(self):
        self.token = None
        self.refresh_at = None

    def check_blocked(self):
        """Raise AuthError (not attempted) while a rejected credential is backing off."""
        wait = self.blocked_until - self.clock()
        if wait > 0:
            raise AuthError("credentials rejected by the VTN (%s); next try in %d s" % (self.last_error, int(wait + 0.999)),
                            attempted=False)

    def form(self):
        fields = [("grant_type", "client_credentials"), ("client_id", self.client_id),
                  ("client_secret", self.client_secret)]
        if self.scope:
            fields.append(("scope", self.scope))
        return "&".join(["%s=%s" % (k, _form_quote(v)) for k, v in fields]).encode("utf-8")

    def accept(self, obj):
        """Take a token from a 200 response body (parsed JSON). AuthError if unusable."""
        if not isinstance(obj, dict):
            raise AuthError("token response is not a JSON object")
        token = obj.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError("token response has no access_token")
        kind = obj.get("token_type", "Bearer")
        if not isinstance(kind, str) or kind.lower() != "bearer":
            raise AuthError("token_type %r is not Bearer" % (kind,))
        lifetime = obj.get("expires_in")
        try:
            lifetime = int(lifetime) if lifetime is not None else None
        except (TypeError, ValueError):
            lifetime = None
        self.token = token
        self.refresh_at = None
        if lifetime is not None and lifetime > 0:
            self.refresh_at = self.clock() + lifetime - min(60, lifetime // 5)
        self.rejections = 0
        self.blocked_until = 0
        self.last_error = ""
        self.fetched += 1

    def reject(self, status, text):
        """The token endpoint refused: back off; returns the AuthError to raise."""
        self.drop()
        self.rejections += 1
        wait = retry.delay(self.rejections, self.retry_max_s)
        self.blocked_until = self.clock() + wait
        self.last_error = "HTTP %d %s" % (status, text) if text else "HTTP %d" % status
        return AuthError("credentials rejected by the VTN (%s); next try in %d s" % (self.last_error, wait))
