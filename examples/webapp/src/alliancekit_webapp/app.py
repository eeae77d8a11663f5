"""The ASGI app: ``create_app(location, settings)`` opens the practice when the server starts and closes it
when the server stops."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliancekit import open_practice
from alliancekit_webapp import client, clinician
from alliancekit_webapp.security import SecurityHeaders, Signer, TokenOutOfPath
from alliancekit_webapp.state import AppState, Settings

STYLESHEET = resources.files("alliancekit_webapp").joinpath("static/app.css").read_text(encoding="utf-8")


async def stylesheet(request: Request) -> Response:
    return Response(STYLESHEET, media_type="text/css")


def create_app(location: str | os.PathLike[str], settings: Settings, **practice_options: Any) -> Starlette:
    """The app over the practice at ``location`` (an SQLite file, or any location ``open_practice`` takes),
    opened with ``practice_options`` (``requests=RequestConfig(...)`` for the clinic's crisis information,
    link expiry and kiosk limits)."""
    signer = Signer(settings.secret_key, settings.public_origin)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with open_practice(location, **practice_options) as practice:
            app.state.alliancekit = AppState(settings, signer, practice)
            yield

    routes = [Route("/static/app.css", stylesheet), *client.routes, *clinician.routes]
    https = settings.public_origin.startswith("https:")
    return Starlette(
        routes=routes,
        middleware=[Middleware(TokenOutOfPath), Middleware(SecurityHeaders, https=https)],
        lifespan=lifespan,
    )
