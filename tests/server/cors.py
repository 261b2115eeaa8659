"""A browser's CORS preflight (no tests here), for the server's CORS tests."""

from __future__ import annotations

import httpx


async def preflight(
    http: httpx.AsyncClient, path: str, origin: str, request_headers: str
) -> httpx.Response:
    """The preflight a browser sends before a ``POST`` to ``path`` from ``origin`` carrying
    ``request_headers`` (a comma-separated list)."""
    return await http.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": request_headers,
        },
    )
