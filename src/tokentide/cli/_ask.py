"""``tokentide ask``: ask one question, stream the answer to stdout as it is generated.

Example::

    tokentide ask "Write a short poem about cats."
    echo "Write a short poem about cats." | tokentide ask --sep "|"
    tokentide ask --pace --markdown "Explain SSE with a heading and a list."
    tokentide ask --completion --sep "|" "Once upon a time"   # raw text completion
"""

from __future__ import annotations

import argparse
import io
import sys
from typing import Any, TextIO

__all__ = ["COMMAND", "HELP", "ORDER", "register", "run"]

COMMAND = "ask"
HELP = "Ask one question and stream the answer as it is generated."
ORDER = 10


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``ask`` arguments to ``parser``."""
    from ._models import MODEL_SPECS

    parser.add_argument(
        "question", nargs="?", default="-", help="the question ('-' or absent: read stdin)"
    )
    parser.add_argument(
        "--model", default="local", help=f"which model: {MODEL_SPECS} (default: local)"
    )
    parser.add_argument("--system", help="a system message to put before the question")
    parser.add_argument(
        "--completion",
        action="store_true",
        help="use the text-completion model (no chat template): the question is continued",
    )
    parser.add_argument("--sep", help="print this separator after each streamed chunk")
    parser.add_argument(
        "--no-stream", action="store_true", help="print the whole answer once it is complete"
    )
    parser.add_argument("--max-tokens", type=int, help="most tokens to generate")
    parser.add_argument("--temperature", type=float, help="sampling temperature (0: greedy)")
    parser.add_argument("--seed", type=int, help="random seed, for repeatable answers")
    parser.add_argument(
        "--pace", action="store_true", help="show the answer at a steady reading rate"
    )
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="render the answer as Markdown on a terminal (plain text when piped)",
    )
    parser.set_defaults(run=run, parser=parser)


def _check(args: argparse.Namespace) -> str:
    """The question, after validating the arguments (a bad one exits with status 2)."""
    parser: argparse.ArgumentParser = args.parser
    if args.max_tokens is not None and args.max_tokens < 1:
        parser.error("--max-tokens must be a positive integer")
    if args.temperature is not None and args.temperature < 0:
        parser.error("--temperature must be zero or more")
    question: str = sys.stdin.read() if args.question == "-" else args.question
    question = question.strip()
    if not question:
        parser.error("no question given (pass it as an argument or on stdin)")
    return question


def run(args: argparse.Namespace) -> int:
    """Run ``tokentide ask``; returns the exit status (130 after Ctrl-C)."""
    from tokentide.errors import MissingDependencyError, TokentideError

    from ._models import ModelSpecError, make_completion_model, make_model

    question = _check(args)
    messages: Any = [("system", args.system), ("human", question)] if args.system else question
    try:
        make = make_completion_model if args.completion else make_model
        model: Any = make(
            args.model,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            seed=args.seed,
        )
    except ModelSpecError as exc:
        args.parser.error(str(exc))
    except (MissingDependencyError, FileNotFoundError) as exc:
        print(f"tokentide ask: error: {exc}", file=sys.stderr)
        return 1
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper):
        out.reconfigure(errors="replace")
    try:
        if args.pace or args.markdown:
            return _render(model, messages, out, args)
        if args.no_stream:
            print(_text(model.invoke(messages)), file=out, flush=True)
            return 0
        return _stream(model, messages, out, args.sep)
    except TokentideError as exc:
        print(f"\ntokentide ask: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        close = getattr(model, "close", None)  # HTTP models hold a connection pool
        if callable(close):
            close()


def _stream(model: Any, messages: Any, out: TextIO, sep: str | None) -> int:
    """Write each chunk as it arrives; on Ctrl-C stop generation, keep what was written, end
    the line and return 130."""
    stream = model.stream(messages)
    at_line_start = True
    try:
        for chunk in stream:
            text = _text(chunk)
            if text:
                out.write(text)
                at_line_start = text.endswith("\n")
            if sep is not None:
                out.write(sep)
                at_line_start = False
            out.flush()
    except KeyboardInterrupt:
        stream.close()
        out.write("\n")
        out.flush()
        return 130
    finally:
        stream.close()
    if not at_line_start:
        out.write("\n")
        out.flush()
    return 0


def _render(model: Any, messages: Any, out: TextIO, args: argparse.Namespace) -> int:
    """``--pace`` / ``--markdown``: paced text, live Markdown on a terminal (plain text when
    piped); Ctrl-C stops generation, shows what was received and returns 130."""
    from tokentide.messages import AIMessageChunk

    from ._term import TrackedStream, is_tty, print_reply

    markdown = bool(args.markdown) and is_tty(out)
    if args.no_stream:
        chunks = iter([AIMessageChunk(content=_text(model.invoke(messages)))])
    else:
        chunks = (AIMessageChunk(c) if isinstance(c, str) else c for c in model.stream(messages))
    try:
        print_reply(TrackedStream(chunks), out, pace=args.pace, markdown=markdown, sep=args.sep)
    except KeyboardInterrupt:
        return 130
    return 0


def _text(reply: Any) -> str:
    """The text of a chat model's message or chunk, or of a completion model's ``str``."""
    return reply if isinstance(reply, str) else str(reply.content)
