"""``tokentide chat --tools ... --approve``: asking the person about one tool call.

``y`` runs the call, ``n`` rejects it (an optional reason is passed to the model), ``e`` asks
for new arguments as a JSON object and runs the call with them. The answer is a decision of
LangChain's ``HumanInTheLoopMiddleware`` (``{"type": "approve" | "reject" | "edit", ...}``).
"""

from __future__ import annotations

import json
from typing import Any, Protocol, TextIO

__all__ = ["ask_decision"]

_KEYS = {"y": "approve", "yes": "approve", "n": "reject", "no": "reject", "e": "edit"}
_LETTERS = {"approve": "y", "reject": "n", "edit": "e"}


class _Reader(Protocol):
    def read(self, prompt: str) -> str: ...


def ask_decision(
    reader: _Reader, stderr: TextIO, action: dict[str, Any], review: dict[str, Any]
) -> dict[str, Any]:
    """Ask until the person gives an allowed answer; the end of input stops the turn (as
    Ctrl-C does)."""
    allowed = [d for d in review.get("allowed_decisions", ()) if d in _LETTERS]
    letters = "/".join(_LETTERS[d] for d in allowed)
    while True:
        answer = _read(reader, f"run {action['name']}? [{letters}] ").strip().lower()
        kind = _KEYS.get(answer)
        if kind is None or kind not in allowed:
            _say(stderr, f"answer {' or '.join(_LETTERS[d] for d in allowed)}")
            continue
        if kind == "approve":
            return {"type": "approve"}
        if kind == "reject":
            reason = _read(reader, "reason (Enter for none): ").strip()
            return {"type": "reject", "message": reason} if reason else {"type": "reject"}
        args = _edited_args(reader, stderr, action)
        if args is not None:
            return {"type": "edit", "edited_action": {"name": action["name"], "args": args}}


def _edited_args(reader: _Reader, stderr: TextIO, action: dict[str, Any]) -> Any:
    current = json.dumps(action["args"], ensure_ascii=False)
    text = _read(reader, f"arguments as JSON (now {current}): ").strip()
    try:
        args = json.loads(text)
    except ValueError as exc:
        _say(stderr, f"not JSON ({exc}); answer again")
        return None
    if not isinstance(args, dict):
        _say(stderr, 'the arguments must be a JSON object, e.g. {"city": "Paris"}')
        return None
    return args


def _read(reader: _Reader, prompt: str) -> str:
    try:
        return reader.read(prompt)
    except EOFError:
        raise KeyboardInterrupt from None


def _say(stderr: TextIO, text: str) -> None:
    stderr.write(text + "\n")
    stderr.flush()
