"""Streamed requests sent straight to the transport of an ``httpx.AsyncClient`` of our own.

``httpx.AsyncClient.send`` wraps every request in layers that a model's own client does not
use: it merges the URL and the headers again (two URL parses and several header copies),
walks the auth and redirect flows, wraps the body for ``elapsed``, and builds ``urllib``
compatibility objects to look for cookies in every response. For a proxy that opens thousands
of upstream streams at once those layers are about a quarter of each request's CPU.

`DirectSend` does what such a request needs and nothing else, with the same result:

- the client's default headers (``User-Agent``, ``Accept-Encoding``, ``Connection``) merged
  with the model's once, and each URL parsed once;
- the client's timeouts, as the request's ``timeout`` extension (a new dict per request: the
  streaming code changes its ``read`` entry);
- the client's cookie jar: its cookies go out with each request, and a response that sets a
  cookie (``Set-Cookie``: a load balancer's sticky session) has it kept, as the client would;
- ``httpx``'s transport errors, with the request attached, and ``httpx``'s one ``INFO`` log
  line per request (logger ``httpx``).

It is used only for a client that `HTTPTransport` built itself, and only when no proxy is set
in the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``): ``httpx`` sends those
requests through transports of its own, so they keep going through the client.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Mapping

import httpx

__all__ = ["DirectSend", "environment_proxies"]

_LOG = logging.getLogger("httpx")  # the logger ``httpx`` writes its request lines to
_MAX_URLS = 64  # parsed URLs kept (a model sends to a handful of paths)


def environment_proxies() -> bool:
    """Whether the environment names a proxy that ``httpx`` (``trust_env``) would use."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


class DirectSend:
    """Send a streamed POST request to ``transport``, the transport of ``client``.

    Example::

        transport = pooled_transport(limits)
        client = httpx.AsyncClient(transport=transport)
        send = DirectSend(client, transport, {"Content-Type": "application/json"})
        response = await send.post("http://127.0.0.1:8080/v1/chat/completions", body)
    """

    __slots__ = ("_cookies", "_headers", "_timeout", "_transport", "_urls")

    def __init__(
        self,
        client: httpx.AsyncClient,
        transport: httpx.AsyncBaseTransport,
        headers: Mapping[str, str],
    ) -> None:
        merged = httpx.Headers(client.headers)  # the client's defaults, as it merges them
        merged.update(headers)
        # The client's own jar (not the client: `HTTPTransport` keeps this object in a
        # mapping weakly keyed by the client, which must not hold the client alive).
        self._cookies = client.cookies
        self._transport = transport
        self._headers = merged.raw
        self._timeout = client.timeout.as_dict()
        self._urls: dict[str, httpx.URL] = {}

    def _url(self, url: str) -> httpx.URL:
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = httpx.URL(url)
            if len(self._urls) < _MAX_URLS:
                self._urls[url] = parsed
        return parsed

    async def post(self, url: str, content: bytes) -> httpx.Response:
        """The response to ``POST url`` with ``content``, its body not read yet."""
        request = httpx.Request(
            "POST",
            self._url(url),
            content=content,
            headers=self._headers,
            extensions={"timeout": dict(self._timeout)},
        )
        cookies = self._cookies
        if cookies:
            cookies.set_cookie_header(request)
        try:
            response = await self._transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        response.request = request
        if "set-cookie" in response.headers:
            try:
                cookies.extract_cookies(response)
            except BaseException:
                await response.aclose()  # its connection goes back to the pool
                raise
        if _LOG.isEnabledFor(logging.INFO):
            _LOG.info(
                'HTTP Request: %s %s "%s %d %s"',
                request.method,
                request.url,
                response.http_version,
                response.status_code,
                response.reason_phrase,
            )
        return response
