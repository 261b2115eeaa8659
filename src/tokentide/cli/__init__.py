"""The ``tokentide`` command: ``tokentide ask`` (and more subcommands as they are added).

Each subcommand is one module in this package that defines ``COMMAND`` (its name), ``HELP``
(one line) and ``register(parser)`` (adds its arguments and sets ``run``, a function taking
the parsed arguments and returning the exit status). Modules are found by scanning the
package, so adding a subcommand is adding one file. A command module imports heavy
dependencies inside ``run``, so that every command starts fast.

Example::

    from tokentide.cli import main

    main(["ask", "--model", "fake", "hello"])  # prints the scripted reply, returns 0
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

__all__ = ["main"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with errors on one line: ``tokentide ask: error: ...`` and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _command_modules() -> list[ModuleType]:
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") and not info.name.startswith("__"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            if hasattr(module, "COMMAND") and hasattr(module, "register"):
                modules.append(module)
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.COMMAND))


def build_parser() -> ArgumentParser:
    """The ``tokentide`` parser with every subcommand found in this package."""
    parser = ArgumentParser(prog="tokentide", description="Stream LLM output token by token.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    commands.required = True
    for module in _command_modules():
        sub = commands.add_parser(module.COMMAND, help=module.HELP, description=module.HELP)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tokentide`` with ``argv`` (default: the process arguments); return the exit
    status (also the process exit status when called as the console script)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except BrokenPipeError:
        # The reader of the output left (``tokentide ask ... | head``): the command has
        # stopped (the stream was closed on the way out); end quietly, with the status of a
        # Unix tool stopped by SIGPIPE, and no traceback from the flush at exit either.
        _discard_stdout()
        return 141  # 128 + SIGPIPE (13)
    return status


def _discard_stdout() -> None:
    """Point the process's stdout at ``os.devnull`` (its reader is gone)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (e.g. captured)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
