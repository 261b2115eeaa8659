"""Session-wide fixtures shared by several test folders."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fakes.llama_server import llama_server as _llama_server
from fakes.llama_server import missing_deps

# Every server the suite talks to listens on loopback: a proxy named in the environment of the
# machine running it (which httpx and the models honour, as users expect) must not take those
# requests. Tests of the proxy support set their own.
for _name in ("http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)
    os.environ.pop(_name.upper(), None)


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """Base URL of llama-cpp-python's OpenAI-compatible server on the embedded model (one per
    test session); skips when its dependencies are missing."""
    missing = missing_deps()
    if missing:
        pytest.skip(f"llama-cpp-python server dependencies missing: {missing}")
    try:
        with _llama_server() as base_url:
            yield base_url
    except RuntimeError as exc:
        pytest.fail(str(exc))


# The machine running the suite may be loaded (2 cores, parallel builds): property tests check
# behaviour, not speed, so they run without a per-example deadline.
try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass
else:
    _hypothesis_settings.register_profile("tokentide", deadline=None)
    _hypothesis_settings.load_profile("tokentide")
