"""``tokentide serve``: serve models and graphs over HTTP (OpenAI-compatible chat completions
and the runs API with resumable streams), on uvicorn.

Example::

    tokentide serve                                  # the local model, on 127.0.0.1:8000
    tokentide serve --model fake --model gpt-4o-mini=local --graph myapp.graphs:agent
    tokentide serve --host 0.0.0.0 --api-key "$KEY" --redis-url redis://localhost:6379/0
    tokentide serve --model fake --workers 2 --redis-url redis://localhost:6379/0

``--workers N`` runs N server processes on one port (uvicorn's workers), each building its own
app: each loads its own models (N times the memory of the local model, one llama.cpp context
each). Chat completions are stateless, but a run lives in the store, so that a run started on
one worker can be read, resumed or cancelled from any other: several workers need a shared
store (``--redis-url``); with the in-memory store ``--workers`` above 1 is refused.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import ipaddress
import json
import os
import sys
from typing import Any

from ._serve_checkpointer import CHECKPOINTER_HELP, make_checkpointer
from ._serve_ui import check_ui, register_ui, ui_options
from ._serve_upstream import check_upstream, register_upstream, upstream_options

__all__ = ["COMMAND", "HELP", "ORDER", "build_app", "register", "run"]

COMMAND = "serve"
HELP = "Serve models and graphs over HTTP: OpenAI-compatible API and resumable runs."
ORDER = 30


class ServeError(ValueError):
    """A command-line value that cannot be served (reported as a usage error)."""


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` arguments to ``parser``."""
    from ._models import MODEL_SPECS

    add = parser.add_argument
    add(
        "--model",
        action="append",
        default=[],
        metavar="[NAME=]SPEC",
        help=f"a model to serve (repeatable): {MODEL_SPECS}; served under NAME (default: "
        "'local', 'fake', or the OpenAI model name). Default: local",
    )
    add("--base-url", help="the OpenAI-compatible server behind openai:<name> models")
    add(
        "--graph",
        action="append",
        default=[],
        metavar="[NAME=]MODULE:ATTR",
        help="a compiled graph or runnable to serve (repeatable); NAME defaults to ATTR",
    )
    add("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    add("--port", type=int, default=8000, help="port to bind (default: 8000)")
    add(
        "--api-key",
        default=os.environ.get("TOKENTIDE_API_KEY") or None,
        help="require 'Authorization: Bearer KEY' on every API route (default: "
        "$TOKENTIDE_API_KEY; prefer it or --api-key-file: a flag shows in the process list)",
    )
    add(
        "--api-key-file",
        metavar="PATH",
        help="read the API key from the first line of this file (instead of --api-key)",
    )
    add("--insecure", action="store_true", help="allow a non-loopback --host without --api-key")
    add("--redis-url", help="keep run streams in Redis (replicas share runs); default: memory")
    add("--checkpointer", metavar="URL", help=CHECKPOINTER_HELP)
    add(
        "--max-queue",
        type=int,
        default=16,
        help="requests that may wait for the local model; more get 503 (default: 16)",
    )
    add(
        "--max-body-bytes",
        type=int,
        default=4 * 1024 * 1024,
        help="largest request body accepted; larger gets 413 (default: 4 MiB)",
    )
    add(
        "--heartbeat",
        type=float,
        default=15.0,
        help="seconds between keep-alive comments on quiet event streams (default: 15)",
    )
    add(
        "--web",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve the web chat page at / (default: on; --no-web for the API only)",
    )
    add(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port; more than 1 needs --redis-url (default: 1)",
    )
    add("--log-level", default="info", help="uvicorn log level (default: info)")
    add(
        "--metrics",
        action="store_true",
        help="Prometheus metrics on GET /metrics (same API key as the API)",
    )
    add(
        "--metrics-port",
        type=int,
        default=None,
        help="serve the Prometheus metrics on this port of --host instead (no API key)",
    )
    add(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="server log lines as text or JSON objects (default: text)",
    )
    add(
        "--log-content",
        action="store_true",
        help="put prompts and completions in the access log lines (default: never)",
    )
    _register_limits(add)
    register_upstream(add)
    register_ui(add)
    _register_run_store(parser)
    parser.set_defaults(run=run, parser=parser)


MIN_KEY_LENGTH = 8
"""Shortest API key ``serve`` accepts."""


def _register_limits(add: Any) -> None:
    """The browser-safety and connection-limit flags (see docs/server.md, Limits and timeouts)."""
    from tokentide.server import ServerLimits

    d = ServerLimits()
    add(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name to serve besides localhost and IP addresses (repeatable; "
        "'.example.com': the domain and its subdomains; '*': any)",
    )
    add(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin allowed to call the API cross-origin, e.g. "
        "http://localhost:3000 (repeatable); other origins get 403",
    )
    for flag, kind, default, what in (
        ("--max-header-bytes", int, d.max_header_bytes, "request line and headers, in bytes"),
        ("--max-headers", int, d.max_headers, "header lines in a request"),
        ("--max-request-line", int, d.max_request_line, "request line, in bytes"),
        ("--header-timeout", float, d.header_timeout, "seconds to send the request headers"),
        ("--body-timeout", float, d.body_timeout, "seconds to send the request body"),
        ("--keep-alive-timeout", float, d.keep_alive, "seconds an idle connection stays open"),
        ("--max-connections", int, d.max_connections, "open connections; more get 503"),
    ):
        add(flag, type=kind, default=default, help=f"limit: {what} (default: {default:g})")


def limits_from_args(args: argparse.Namespace) -> Any:
    """The `ServerLimits` of parsed ``serve`` arguments (`ServeError` for bad values)."""
    from tokentide.server import ServerLimits

    try:
        return ServerLimits(
            max_header_bytes=args.max_header_bytes,
            max_headers=args.max_headers,
            max_request_line=args.max_request_line,
            header_timeout=args.header_timeout,
            body_timeout=args.body_timeout,
            keep_alive=args.keep_alive_timeout,
            max_connections=args.max_connections,
        )
    except ValueError as exc:
        raise ServeError(str(exc).replace("_", "-")) from None


def _api_key(args: argparse.Namespace) -> str | None:
    """The API key from ``--api-key-file`` or ``--api-key`` / ``$TOKENTIDE_API_KEY``, checked."""
    key = args.api_key
    path = getattr(args, "api_key_file", None)
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                key = file.readline().strip()
        except OSError as exc:
            raise ServeError(f"--api-key-file: cannot read {path!r}: {exc.strerror}") from None
        if not key:
            raise ServeError(f"--api-key-file: {path!r} is empty")
    if key is None:
        return None
    if not key.strip():
        raise ServeError("the API key is empty or only whitespace; set a real key")
    if any(c.isspace() or not c.isprintable() or not c.isascii() for c in key):
        raise ServeError("the API key must be printable ASCII without spaces")
    if len(key) < MIN_KEY_LENGTH:
        raise ServeError(
            f"the API key is too short ({len(key)} characters; at least {MIN_KEY_LENGTH}): "
            "use a long random one, e.g. python -c 'import secrets; print(secrets.token_urlsafe())'"
        )
    return str(key)


def _register_run_store(parser: argparse.ArgumentParser) -> None:
    """The run store's retention and lease options."""
    add = parser.add_argument
    add(
        "--max-finished-runs",
        type=int,
        default=10_000,
        help="finished runs kept for reading and resuming; the oldest go first (default: 10000)",
    )
    add(
        "--max-finished-bytes",
        type=int,
        default=256 * 1024 * 1024,
        help="bytes of finished runs kept; the oldest go first (default: 256 MiB)",
    )
    add(
        "--run-ttl",
        type=float,
        default=3600.0,
        help="seconds a finished run is kept at most (default: 3600)",
    )
    add(
        "--run-lease",
        type=float,
        default=30.0,
        help="with --redis-url: seconds without a heartbeat after which a replica's runs are "
        "ended as failed (replica_lost); renewed every third of it (default: 30)",
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(host: str) -> list[str]:
    """``--host`` when it is a DNS name: the server answers to the name it was told to bind."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return [host]
    return []


def _named(value: str, default: str) -> tuple[str, str]:
    name, sep, spec = value.partition("=")
    return (name, spec) if sep and name else (default, value)


def _models(
    specs: list[str], base_url: str | None, upstream: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The served models; ``upstream`` holds the HTTP-client options of ``openai:`` ones."""
    from ._models import make_model

    models: dict[str, Any] = {}
    for value in specs:
        name, spec = _named(value, "")
        kind, _, rest = spec.partition(":")
        name = name or (rest if kind == "openai" else kind)
        if name in models:
            raise ServeError(f"two models are named {name!r}; name one with NAME=SPEC")
        options = {"base_url": base_url} if kind == "openai" and base_url else {}
        if kind in ("openai", "openai-responses"):
            options.update(upstream or {})
        models[name] = make_model(spec, **options)
    return models


def _graphs(specs: list[str]) -> dict[str, Any]:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    graphs: dict[str, Any] = {}
    for value in specs:
        name, spec = _named(value, "")
        module_name, sep, attr = spec.partition(":")
        if not sep or not module_name or not attr:
            raise ServeError(f"--graph {value!r}: expected MODULE:ATTR, e.g. myapp.graphs:agent")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ServeError(f"--graph {value!r}: cannot import {module_name!r}: {exc}") from exc
        target = getattr(module, attr, None)
        if target is None or not hasattr(target, "astream"):
            raise ServeError(f"--graph {value!r}: {attr!r} is not a graph or runnable")
        graphs[name or attr] = target
    return graphs


def _store(args: argparse.Namespace) -> Any:
    redis_url = args.redis_url
    retention: dict[str, Any] = {
        "max_finished_runs": getattr(args, "max_finished_runs", 10_000),
        "max_finished_bytes": getattr(args, "max_finished_bytes", 256 * 1024 * 1024),
        "ttl": getattr(args, "run_ttl", 3600.0),
    }
    if not redis_url:
        from tokentide.server import MemoryStreamStore

        return MemoryStreamStore(**retention)
    try:
        module = importlib.import_module("tokentide.server._redis_store")
    except ModuleNotFoundError as exc:
        if exc.name == "tokentide.server._redis_store":
            raise ServeError(
                "--redis-url: this version of tokentide has no Redis store; "
                "run without --redis-url (runs are kept in memory)"
            ) from exc
        raise ServeError(
            f"--redis-url needs the '{exc.name}' package: pip install 'tokentide[redis]'"
        ) from exc
    return module.RedisStreamStore(redis_url, lease=getattr(args, "run_lease", 30.0), **retention)


def check_args(args: argparse.Namespace) -> None:
    """`ServeError` for ``serve`` arguments that cannot work together."""
    args.api_key = _api_key(args)
    args.api_key_file = None
    limits_from_args(args)
    if not _is_loopback(args.host) and not args.api_key and not args.insecure:
        raise ServeError(
            f"refusing to serve on {args.host} without --api-key: anyone on the network could "
            "use your models. Set --api-key KEY (or TOKENTIDE_API_KEY), or pass --insecure"
        )
    if args.max_queue < 0 or args.max_body_bytes < 1 or args.heartbeat < 0:
        raise ServeError("--max-queue, --max-body-bytes and --heartbeat must not be negative")
    _check_run_store(args)
    problem = check_upstream(args)
    if problem:
        raise ServeError(problem)
    workers = getattr(args, "workers", 1)
    if workers < 1:
        raise ServeError(f"--workers must be at least 1, got {workers}")
    if workers > 1 and (getattr(args, "metrics", False) or getattr(args, "metrics_port", None)):
        raise ServeError(
            f"--metrics / --metrics-port need --workers 1: each of the {workers} worker "
            "processes would count only its own requests. Run one worker per port instead"
        )
    if workers > 1 and getattr(args, "checkpointer", None) == "memory":
        raise ServeError(
            f"--workers {workers} cannot share --checkpointer memory: each worker would keep "
            "its own threads. Use sqlite:///PATH or postgresql://..., or --workers 1"
        )
    if workers > 1 and not args.redis_url:
        raise ServeError(
            f"--workers {workers} needs --redis-url: runs are kept in the memory of the process "
            "that started them, so another worker would not know them (chat completions alone "
            "would work, the runs API would not). Pass --redis-url redis://..., or --workers 1"
        )


def _check_run_store(args: argparse.Namespace) -> None:
    if getattr(args, "max_finished_runs", 1) < 1 or getattr(args, "max_finished_bytes", 1) < 1:
        raise ServeError("--max-finished-runs and --max-finished-bytes must be at least 1")
    if getattr(args, "run_ttl", 0) < 0:
        raise ServeError("--run-ttl must not be negative")
    if not getattr(args, "run_lease", 1) > 0:
        raise ServeError("--run-lease must be more than 0 seconds")


def build_app(args: argparse.Namespace) -> Any:
    """The app for parsed ``serve`` arguments (`ServeError` for values that cannot work)."""
    from tokentide.server import create_app

    check_args(args)
    graphs = _graphs(args.graph)
    specs = args.model or ([] if graphs else ["local"])
    models = _models(specs, args.base_url, upstream_options(args))
    problem = check_ui(args, [*models, *graphs])
    if problem:
        raise ServeError(problem)
    app = create_app(
        models=models,
        graphs=graphs,
        store=_store(args),
        api_key=args.api_key or None,
        max_body_bytes=args.max_body_bytes,
        heartbeat=args.heartbeat or None,
        max_queue=args.max_queue,
        web=args.web,
        allowed_hosts=[*args.allowed_host, *_host_name(args.host)],
        cors_origins=args.cors_origin,
        body_timeout=args.body_timeout,
        checkpointer=make_checkpointer(getattr(args, "checkpointer", None)),
        **ui_options(args),
    )
    return observe_app(app, args)


def observe_app(app: Any, args: argparse.Namespace) -> Any:
    """``app`` with its access log and, with ``--metrics`` / ``--metrics-port``, its
    Prometheus collectors (``app.metrics``)."""
    from tokentide.server._observe import ObservedApp

    metrics = None
    port = getattr(args, "metrics_port", None)
    if getattr(args, "metrics", False) or port is not None:
        try:
            from tokentide.observe._prometheus import ServerMetrics
        except ImportError as exc:
            raise ServeError(
                f"--metrics needs prometheus-client: pip install 'tokentide[server]' ({exc})"
            ) from exc
        metrics = ServerMetrics()
    return ObservedApp(
        app,
        metrics=metrics,
        log_content=getattr(args, "log_content", False),
        metrics_path=getattr(args, "metrics", False),
    )


def start_metrics_port(app: Any, host: str, port: int) -> Any:
    """Serve ``app.metrics`` on ``host:port`` from a thread; returns the HTTP server."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host, registry=app.metrics.registry)
    return server


GC_THRESHOLD = (50_000, 20, 10)
"""Collector thresholds of a serving process (CPython's defaults: 700, 10, 10)."""


def tune_gc() -> None:
    """Set up the garbage collector of a process that serves many streams at once.

    Each live stream holds about a hundred tracked objects (tasks, coroutines, contexts), and a
    full collection walks all of them while every stream waits: with 2,000 streams that is a
    pause of 100-200 ms on a small machine, many times during a ramp-up. Streaming makes no
    cyclic garbage on its normal path, so the process collects less often (larger
    thresholds), and everything loaded before serving is frozen out of the collections
    (``gc.freeze``). Reference counting still frees every stream's objects at once.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


_WORKER_ARGS = "TOKENTIDE_SERVE_ARGS"
_ARG_NAMES = (
    "model",
    "base_url",
    "graph",
    "host",
    "api_key",
    "insecure",
    "redis_url",
    "max_queue",
    "max_body_bytes",
    "heartbeat",
    "web",
    "log_content",
    "log_format",
    "log_level",
    "allowed_host",
    "cors_origin",
    "max_header_bytes",
    "max_headers",
    "max_request_line",
    "header_timeout",
    "body_timeout",
    "keep_alive_timeout",
    "max_connections",
    "max_finished_runs",
    "max_finished_bytes",
    "run_ttl",
    "run_lease",
    "checkpointer",
    "ui_path",
    "ui_model",
    "ui_resume_grace",
)


def worker_app() -> Any:
    """The app of one ``--workers`` process (a uvicorn factory): built from the arguments the
    parent process checked and passed in ``TOKENTIDE_SERVE_ARGS``."""
    from tokentide.server._logs import configure_logging

    values = json.loads(os.environ[_WORKER_ARGS])
    configure_logging(values.get("log_format", "text"), values.get("log_level", "info"))
    app = build_app(argparse.Namespace(**values, workers=1))
    tune_gc()
    return app


def _run_workers(args: argparse.Namespace) -> int:
    import uvicorn

    check_args(args)
    os.environ[_WORKER_ARGS] = json.dumps({name: getattr(args, name) for name in _ARG_NAMES})
    print(
        f"tokentide serve: http://{args.host}:{args.port}/v1 ({args.workers} workers)",
        file=sys.stderr,
        flush=True,
    )
    try:
        uvicorn.run(
            f"{__name__}:worker_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            ws="none",
            timeout_graceful_shutdown=5,
            access_log=False,
            log_config=None,
            **_uvicorn_limits(args),
        )
    except KeyboardInterrupt:
        pass
    return 0


def _uvicorn_limits(args: argparse.Namespace) -> dict[str, Any]:
    """uvicorn options enforcing the limits; the open-files limit is raised to fit them."""
    from tokentide.server import uvicorn_options

    limits = limits_from_args(args)
    raise_open_files(limits.max_connections + 256)
    return uvicorn_options(limits)


def raise_open_files(wanted: int) -> None:
    """Raise this process's soft limit of open files towards ``wanted`` (up to the hard
    limit): each connection is a file descriptor, and the common soft limit of 1,024 would
    refuse connections long before ``--max-connections``."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def run(args: argparse.Namespace) -> int:
    """Run ``tokentide serve`` until Ctrl-C; returns the exit status."""
    from tokentide.errors import MissingDependencyError, TokentideError
    from tokentide.server._logs import configure_logging

    from ._models import ModelSpecError

    configure_logging(args.log_format, args.log_level)
    try:
        if args.workers > 1:
            return _run_workers(args)
        app = build_app(args)
    except (ServeError, ModelSpecError) as exc:
        args.parser.error(str(exc))
    except (MissingDependencyError, TokentideError, FileNotFoundError) as exc:
        print(f"tokentide serve: error: {exc}", file=sys.stderr)
        return 1
    try:
        import uvicorn
    except ImportError:
        print(
            "tokentide serve: error: the server needs uvicorn: pip install 'tokentide[server]'",
            file=sys.stderr,
        )
        return 1
    names = ", ".join(app.assistants) or "-"
    print(
        f"tokentide serve: http://{args.host}:{args.port}/v1 (serving: {names})",
        file=sys.stderr,
        flush=True,
    )
    if args.metrics_port is not None:
        start_metrics_port(app, args.host, args.metrics_port)
        print(
            f"tokentide serve: metrics on http://{args.host}:{args.metrics_port}/metrics",
            file=sys.stderr,
            flush=True,
        )
    tune_gc()
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        ws="none",
        timeout_graceful_shutdown=5,
        access_log=False,  # tokentide.server.access writes one line per request
        log_config=None,  # the handlers of configure_logging
        **_uvicorn_limits(args),
    )
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        pass
    return 0
