"""`OpenAIClient`: what the OpenAI chat and completion clients share.

Configuration from the arguments or the environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``),
the sampling options sent with every request, and the `HTTPTransport` (its lifecycle is
`HTTPModel`'s). `ChatOpenAI` and `OpenAI` add their own request body and chunk parser.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from tokentide.errors import APIError

from ._http import HTTPTransport
from ._http_model import HTTPModel
from ._model_base import LanguageModel

__all__ = ["DEFAULT_BASE_URL", "OpenAIClient", "client_args"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"

Output = TypeVar("Output")


def client_args(arguments: Mapping[str, Any], *own: str) -> dict[str, Any]:
    """The keyword arguments a subclass constructor hands on to `OpenAIClient.__init__`: its
    ``locals()`` (taken first thing, so they are its parameters) without ``self``, the
    ``__class__`` cell of ``super()`` and the parameters named in ``own``, which it keeps."""
    dropped = {"self", "__class__", *own}
    return {name: value for name, value in arguments.items() if name not in dropped}


class OpenAIClient(HTTPModel, LanguageModel[Output]):
    """Base of `ChatOpenAI` and `OpenAI`.

    A subclass names its ``default_model`` (when neither ``model`` nor ``model_name`` is
    given) and ``no_config_message`` (the `APIError` raised when there is neither an API key
    nor a base URL).
    """

    provider: ClassVar[str] = "openai"
    default_model: ClassVar[str]
    no_config_message: ClassVar[str]

    def __init__(
        self,
        *,
        model: str | None,
        model_name: str | None,
        base_url: str | None,
        api_key: str | None,
        temperature: float | None,
        max_tokens: int | None,
        seed: int | None,
        timeout: float | None,
        idle_timeout: float | None,
        max_retries: int,
        stream_usage: bool,
        default_headers: Mapping[str, str] | None,
        stop: list[str] | None,
        top_p: float | None,
        model_kwargs: Mapping[str, Any] | None,
        openai_api_key: str | None,
        openai_api_base: str | None,
        name: str | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        callbacks: Any = None,
        streaming: bool = False,
        max_connections: int | None = None,
    ) -> None:
        super().__init__(
            name=name, tags=tags, metadata=metadata, callbacks=callbacks, streaming=streaming
        )
        if model is not None and model_name is not None and model != model_name:
            raise ValueError(f"model={model!r} and model_name={model_name!r} disagree")
        self.model_name = model or model_name or self.default_model
        key = api_key or openai_api_key or os.environ.get("OPENAI_API_KEY") or None
        url = base_url or openai_api_base or os.environ.get("OPENAI_BASE_URL") or None
        if key is None and url is None:
            raise APIError(self.no_config_message)
        self.base_url = url or DEFAULT_BASE_URL
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.stop = list(stop) if stop else None
        self.top_p = top_p
        self.stream_usage = stream_usage
        self.model_kwargs = dict(model_kwargs or {})
        self._transport = HTTPTransport(
            base_url=self.base_url,
            api_key=key,
            timeout=timeout,
            idle_timeout=idle_timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            max_connections=max_connections,
        )

    def _options(self) -> dict[str, Any]:
        """The model's sampling options for a request body (``model_kwargs`` win)."""
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "top_p": self.top_p,
            **self.model_kwargs,
        }
