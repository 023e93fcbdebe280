"""DNS-SD advertisement of the development VTN with python-zeroconf.

Publishes `<instance>._openadr3._tcp.local.` on one IPv4 address only (never
on every interface), with the six TXT keys of the OpenADR 3.1.0 Definition
("Discovery and Configuration of Local VTNs"): version, base_path, local_url,
program_names, requires_auth, openapi_url. The SRV target is `<hostname>.local.`
and its A record the same address.
"""

import re
import socket

SERVICE_TYPE = "_openadr3._tcp.local."
OPENADR_VERSION = "3.1.0"
_MAX_TXT_ITEM = 255  # RFC 6763 section 6.1: one length byte per key=value string


def hostname_from_instance(instance):
    """'Dev VTN' -> 'dev-vtn': a DNS label usable as `<label>.local.`."""
    label = re.sub(r"[^a-z0-9]+", "-", instance.lower()).strip("-")[:63].strip("-")
    return label or "devvtn"


def txt_properties(hostname, port, base_path, program_names, requires_auth, scheme="http",
                   version=OPENADR_VERSION):
    base_path = base_path.strip("/")
    origin = "%s://%s.local:%d" % (scheme, hostname, port)
    props = {
        "version": version,
        "base_path": base_path,
        "local_url": "%s/%s" % (origin, base_path) if base_path else origin,
        "program_names": ",".join(program_names),
        # The Definition spells the values True / False.
        "requires_auth": "True" if requires_auth else "False",
        "openapi_url": "%s/openapi.yaml" % origin,
    }
    for key, value in props.items():
        if len(("%s=%s" % (key, value)).encode("utf-8")) > _MAX_TXT_ITEM:
            raise ValueError("TXT entry %s is longer than %d bytes" % (key, _MAX_TXT_ITEM))
    return props


class Advertiser:
    """One registered service; update() re-announces changed TXT, close() says goodbye."""

    def __init__(self, address, port, instance, hostname, base_path, scheme="http", version=OPENADR_VERSION):
        self.scheme = scheme
        self.version = version
        self.address = address
        self.port = port
        self.instance = instance
        self.hostname = hostname
        self.base_path = base_path
        self._zc = None
        self._info = None
        self.properties = None

    def _service_info(self, name, props):
        from zeroconf import ServiceInfo
        return ServiceInfo(
            SERVICE_TYPE, name, port=self.port, properties=props,
            server="%s.local." % self.hostname,
            addresses=[socket.inet_aton(self.address)])

    def start(self, program_names, requires_auth):
        # Imported here so --no-advertise runs never load zeroconf at all.
        from zeroconf import IPVersion, Zeroconf
        props = txt_properties(self.hostname, self.port, self.base_path, program_names, requires_auth,
                               self.scheme, self.version)
        self._zc = Zeroconf(interfaces=[self.address], ip_version=IPVersion.V4Only)
        info = self._service_info("%s.%s" % (self.instance, SERVICE_TYPE), props)
        try:
            # Another VTN with this name on the link: take "<instance>-2" rather than fail.
            self._zc.register_service(info, allow_name_change=True)
        except BaseException:
            self._zc.close()
            self._zc = None
            raise
        self._info = info
        self.properties = props
        return info.name

    def update(self, program_names, requires_auth):
        """Re-announce if the TXT content changed. Returns True when it did."""
        props = txt_properties(self.hostname, self.port, self.base_path, program_names, requires_auth,
                               self.scheme, self.version)
        if self._zc is None or props == self.properties:
            return False
        info = self._service_info(self._info.name, props)
        self._zc.update_service(info)
        self._info = info
        self.properties = props
        return True

    def close(self):
        if self._zc is None:
            return
        try:
            if self._info is not None:
                self._zc.unregister_service(self._info)  # goodbye packets, TTL 0
        finally:
            self._zc.close()
            self._zc = None
