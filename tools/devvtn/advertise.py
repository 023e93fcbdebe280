"""DNS-SD advertisement of the development VTN with python-zeroconf.

Publishes `<instance>._openadr3._tcp.local.` on one IPv4 address only (never
on every interface), with the six TXT keys of the OpenADR 3.1.0 Definition
("Discovery and Configuration of Local VTNs"): version, base_path, local_url,
program_names, requires_auth, openapi_url. The SRV target is `<hostname>.local.`
and its A record the same address.

With the srv_instance_target quirk (quirks.py) it imitates a real VTN instead:
the SRV target is the service's own name, e.g. `OpenADR3 VTN._openadr3._tcp.local.`
(spaces and all: python-zeroconf does not check a ServiceInfo's server name),
no A record is published at all, and local_url and openapi_url name the VTN by
its IP address. Switching the quirk on a running advertiser re-announces the
service with the new SRV record (cache-flush), no goodbye in between.
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
                   version=OPENADR_VERSION, url_host=None):
    """The six TXT keys; the URLs name url_host (an IP address) or else <hostname>.local."""
    base_path = base_path.strip("/")
    origin = "%s://%s:%d" % (scheme, url_host or hostname + ".local", port)
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
        self.instance_target = False  # the srv_instance_target quirk, as announced

    @property
    def target(self):
        """The SRV target announced (or to be announced)."""
        if self.instance_target and self._info is not None:
            return self._info.name
        return "%s.local." % self.hostname

    def _properties(self, program_names, requires_auth, instance_target):
        return txt_properties(self.hostname, self.port, self.base_path, program_names, requires_auth,
                              self.scheme, self.version, self.address if instance_target else None)

    def _service_info(self, name, props, instance_target):
        from zeroconf import ServiceInfo
        if instance_target:
            # The quirk: the service's own name as SRV target, and no address for it.
            return ServiceInfo(SERVICE_TYPE, name, port=self.port, properties=props, server=name,
                               addresses=[])
        return ServiceInfo(
            SERVICE_TYPE, name, port=self.port, properties=props,
            server="%s.local." % self.hostname,
            addresses=[socket.inet_aton(self.address)])

    def start(self, program_names, requires_auth, instance_target=False):
        # Imported here so --no-advertise runs never load zeroconf at all.
        from zeroconf import IPVersion, Zeroconf
        props = self._properties(program_names, requires_auth, instance_target)
        self._zc = Zeroconf(interfaces=[self.address], ip_version=IPVersion.V4Only)
        info = self._service_info("%s.%s" % (self.instance, SERVICE_TYPE), props, instance_target)
        try:
            # Another VTN with this name on the link: take "<instance>-2" rather than fail.
            self._zc.register_service(info, allow_name_change=True)
            if instance_target and info.server != info.name:
                # Renamed while probing: the target follows the name it got.
                info = self._service_info(info.name, props, True)
                self._zc.update_service(info)
        except BaseException:
            self._zc.close()
            self._zc = None
            raise
        self._info = info
        self.properties = props
        self.instance_target = instance_target
        return info.name

    def update(self, program_names, requires_auth, instance_target=False):
        """Re-announce if the TXT content or the SRV target changed. Returns True when it did."""
        props = self._properties(program_names, requires_auth, instance_target)
        if self._zc is None or (props == self.properties and instance_target == self.instance_target):
            return False
        info = self._service_info(self._info.name, props, instance_target)
        self._zc.update_service(info)
        self._info = info
        self.properties = props
        self.instance_target = instance_target
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
