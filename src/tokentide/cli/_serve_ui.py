"""The ``serve`` flags of the Vercel AI SDK chat endpoints (``useChat``'s UI message stream).

``--ui-path`` is where ``useChat`` posts (its resume and stop paths hang below it),
``--ui-model`` the model or graph it talks to when the request names none, and
``--ui-resume-grace`` how long a chat run outlives its last reader, waiting for a reload to
resume it, before it is cancelled (a Stop in the page stops the model that much later).
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["check_ui", "register_ui", "ui_options"]


def register_ui(add: Any) -> None:
    """The flags of the AI SDK chat endpoints."""
    add(
        "--ui-path",
        default="/api/chat",
        metavar="PATH",
        help="where the Vercel AI SDK's useChat posts; GET PATH/{chatId}/stream resumes and "
        "POST PATH/{chatId}/stop stops a chat's answer (default: /api/chat)",
    )
    add(
        "--ui-model",
        default=None,
        metavar="NAME",
        help="the served model or graph that useChat talks to when its request body names no "
        "'model' (default: the only one served)",
    )
    add(
        "--ui-resume-grace",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="seconds a chat's answer goes on after its page disconnected, so that a reload "
        "resumes it; then it is cancelled (default: 2)",
    )


def ui_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``create_app`` options of the flags."""
    return {
        "ui_path": getattr(args, "ui_path", "/api/chat"),
        "ui_model": getattr(args, "ui_model", None),
        "ui_resume_grace": getattr(args, "ui_resume_grace", 2.0),
    }


def check_ui(args: argparse.Namespace, served: list[str]) -> str | None:
    """What is wrong with the flags, or ``None`` (``served``: the names being served)."""
    from tokentide.server._ui_api import check_ui_path

    try:
        check_ui_path(getattr(args, "ui_path", "/api/chat"))
    except ValueError as exc:
        return f"--ui-path: {exc}"
    grace = getattr(args, "ui_resume_grace", 2.0)
    if not grace >= 0:
        return f"--ui-resume-grace must not be negative, got {grace:g}"
    model = getattr(args, "ui_model", None)
    if model is not None and model not in served:
        names = ", ".join(served) or "none"
        return f"--ui-model {model!r} is not served (served: {names}); name a --model or --graph"
    return None
