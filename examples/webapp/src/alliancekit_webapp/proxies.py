"""Where a request comes from: the options that make the ASGI server (uvicorn) take the source address,
which the per-address sign-in and kiosk-code limits count, from the TCP peer or from a named proxy only."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from alliancekit.errors import ValidationError


def server_options(trusted_proxies: Sequence[str] = ()) -> dict[str, Any]:
    """uvicorn's options for where a request comes from. uvicorn's own defaults believe ``X-Forwarded-For``
    from 127.0.0.1, so anyone reaching the app over loopback would choose the address the per-address
    limits count: the header is read only from the proxies named (IP addresses or networks; never ``*``).

    :raises alliancekit.errors.ValidationError: ``trusted_proxy``, ``ip-address``, for anything else.
    """
    for proxy in trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ValidationError(
                "trusted_proxy", "ip-address", "an IP address or network, such as 10.0.0.5 or 10.0.0.0/24"
            ) from None
    return {"proxy_headers": bool(trusted_proxies), "forwarded_allow_ips": list(trusted_proxies) or None}
