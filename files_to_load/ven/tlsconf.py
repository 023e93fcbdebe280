# TLS client settings for the VTN: verified by default.
#
# MicroPython's ssl wrapper starts with verify_mode = CERT_NONE even for
# PROTOCOL_TLS_CLIENT and the firmware has no CA bundle, so everything is set
# here explicitly: CERT_REQUIRED, the CA certificate(s) from the config (a PEM
# file on the flash and/or PEM text in the config), TLS 1.2 or later where the
# port lets us say so. The server name (SNI and the certificate's name check)
# is given per connection by http_client. Only vtn.tls_insecure turns checking
# off, and the caller logs a warning at every connection then.
#
# CA certificates are handed over as DER bytes, one load per certificate: the
# one form every MicroPython version (1.22+) and CPython accept alike.
#
#   ctx = tlsconf.client_context(tlsconf.load_ca(cfg["vtn"]), cfg["vtn"]["tls_insecure"])

import binascii
import ssl

_BEGIN = "-----BEGIN CERTIFICATE-----"
_END = "-----END CERTIFICATE-----"


class TLSConfigError(ValueError):
    pass


def pem_to_der(pem, where="PEM"):
    """Every CERTIFICATE block of PEM text -> list of DER bytes."""
    if isinstance(pem, bytes):
        pem = pem.decode("utf-8")
    out = []
    rest = pem
    while True:
        start = rest.find(_BEGIN)
        if start < 0:
            break
        end = rest.find(_END, start)
        if end < 0:
            raise TLSConfigError("%s: certificate without an END line" % where)
        b64 = "".join(rest[start + len(_BEGIN):end].split())
        try:
            der = binascii.a2b_base64(b64)
        except ValueError:
            der = b""
        if len(der) < 16 or der[0] != 0x30:  # a certificate is a DER SEQUENCE
            raise TLSConfigError("%s: certificate is not valid base64 DER" % where)
        out.append(der)
        rest = rest[end + len(_END):]
    if not out:
        raise TLSConfigError("%s: no '%s' block found" % (where, _BEGIN))
    return out


def load_ca(vtn_cfg):
    """DER CA certificates from vtn.ca_file (a PEM file on the flash) and vtn.ca_pem."""
    ders = []
    path = vtn_cfg.get("ca_file", "")
    if path:
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            raise TLSConfigError("vtn.ca_file %r cannot be read (%s); upload the VTN's CA certificate there" % (path, e))
        ders.extend(pem_to_der(text, "vtn.ca_file " + path))
    if vtn_cfg.get("ca_pem", ""):
        ders.extend(pem_to_der(vtn_cfg["ca_pem"], "vtn.ca_pem"))
    return ders


def client_context(ca_ders, insecure=False):
    """An SSLContext for the VTN: verified against ca_ders unless insecure."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    versions = getattr(ssl, "TLSVersion", None)
    if versions is not None:
        # CPython; MicroPython's mbedtls build offers nothing older than 1.2.
        setattr(ctx, "minimum_version", versions.TLSv1_2)
    if insecure:
        if hasattr(ctx, "check_hostname"):
            setattr(ctx, "check_hostname", False)  # CPython refuses CERT_NONE otherwise
        # The ESP32 stubs lack SSLContext.verify_mode; the firmware has it (1.23+).
        ctx.verify_mode = ssl.CERT_NONE  # type: ignore[attr-defined]
        return ctx
    if not ca_ders:
        raise TLSConfigError("no CA certificate configured: set vtn.ca_file or vtn.ca_pem "
                             "(or vtn.tls_insecure to skip verification)")
    ctx.verify_mode = ssl.CERT_REQUIRED  # type: ignore[attr-defined]
    for der in ca_ders:
        try:
            ctx.load_verify_locations(cadata=der)
        except (OSError, ValueError) as e:
            raise TLSConfigError("CA certificate rejected: %s" % e)
    return ctx
