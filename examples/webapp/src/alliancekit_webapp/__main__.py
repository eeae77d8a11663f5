"""``python -m alliancekit_webapp --db practice.sqlite --clinic CLINIC --clinician ID``: run the app with
uvicorn on 127.0.0.1. The passphrase comes from ``ALLIANCEKIT_WEBAPP_PASSPHRASE`` (one passphrase for the
clinicians named, the example's sign-in); the secret key from ``ALLIANCEKIT_WEBAPP_SECRET`` (hex, 32 bytes
or more) or a new random one each start (signing everyone out). ``--public-url`` is where clients reach
it (the links clinicians send start with it): ``https``, or ``http`` on a loopback address; by default
``http://<host>:<port>``, which is refused unless ``--host`` is a loopback address.

A request's source address (what the per-address sign-in and kiosk-code limits count) is the TCP peer.
Behind a reverse proxy, ``--trusted-proxy ADDRESS`` (repeatable; an IP address or network) names the proxy:
then, for a request from it, the source is the nearest ``X-Forwarded-For`` entry not itself a trusted proxy.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys

import uvicorn

from alliancekit.errors import ValidationError
from alliancekit.requests import RequestConfig
from alliancekit_webapp.app import create_app
from alliancekit_webapp.proxies import server_options
from alliancekit_webapp.security import hash_passphrase
from alliancekit_webapp.state import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="alliancekit-webapp", description="Run the alliancekit reference web app with uvicorn."
    )
    parser.add_argument("--db", required=True, help="the practice's SQLite file (or a store location)")
    parser.add_argument("--clinic", required=True, help="the clinic this app serves (kiosk codes, sign-in)")
    parser.add_argument("--clinician", action="append", default=[], help="a clinician who may sign in")
    parser.add_argument(
        "--crisis-information", help="what a client who endorses a risk item is shown (phone numbers, hours)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--public-url",
        help="where clients reach the app, e.g. https://measures.clinic.example (default http://HOST:PORT)",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        help="a reverse proxy's IP address or network whose X-Forwarded-For is believed (repeatable; "
        "default none: the source is the TCP peer)",
    )
    args = parser.parse_args(argv)
    passphrase = os.environ.get("ALLIANCEKIT_WEBAPP_PASSPHRASE", "")
    if args.clinician and not passphrase:
        print("set ALLIANCEKIT_WEBAPP_PASSPHRASE for the clinicians' sign-in", file=sys.stderr)  # noqa: T201
        return 2
    secret = os.environ.get("ALLIANCEKIT_WEBAPP_SECRET")
    key = bytes.fromhex(secret) if secret else secrets.token_bytes(32)
    stored = hash_passphrase(passphrase) if passphrase else ""
    host = f"[{args.host}]" if ":" in args.host else args.host
    try:
        served = server_options(args.trusted_proxy)
        settings = Settings(
            clinic_id=args.clinic,
            secret_key=key,
            public_url=args.public_url or f"http://{host}:{args.port}",
            clinicians=dict.fromkeys(args.clinician, stored),
        )
    except ValidationError as error:
        print(f"alliancekit-webapp: {error}", file=sys.stderr)  # noqa: T201
        return 2
    crisis = {args.clinic: args.crisis_information} if args.crisis_information else {}
    app = create_app(args.db, settings, requests=RequestConfig(crisis_information=crisis))
    # access_log=False: nothing about requests is logged (the app keeps a link's token out of the path too)
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, **served)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
