"""What a failed TLS handshake says about a channel's settings.

A certificate that fails verification, or a peer that does not speak TLS at all, will answer the same way
on every retry: the fix is a setting (the host name, the CA bundle, the port or security mode), and
retrying a certificate failure is what a machine in the middle wants. The first-party channels make such a
failure permanent, with a reason that names the setting to check.
"""

from __future__ import annotations

import ssl

__all__ = ["tls_refusal"]

#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH: the certificate is valid, but
#: for another name.
_NAME_MISMATCH = frozenset({62, 64})


def tls_refusal(exc: BaseException) -> str | None:
    """``certificate-name`` (the certificate is not for the host connected to), ``certificate-untrusted``
    (any other verification failure: an unknown issuer, self-signed, expired), ``not-tls`` (the peer
    answered the handshake with something that is not TLS), or ``None`` for any other failure."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "certificate-name" if exc.verify_code in _NAME_MISMATCH else "certificate-untrusted"
    if isinstance(exc, ssl.SSLError) and getattr(exc, "reason", None) == "WRONG_VERSION_NUMBER":
        return "not-tls"
    return None
