"""Starting a child process that must react to Ctrl-C (SIGINT) the way a user's would.

A process started in the background by a non-interactive shell (``cmd &``, ``nohup``, some CI
runners) has SIGINT ignored, and a child inherits that: Python keeps an inherited ``SIG_IGN``,
so a test that sends SIGINT to such a child would see it run to the end. A test that sends
SIGINT therefore starts its child with SIGINT at its default disposition, explicitly:

    subprocess.Popen(argv, preexec_fn=sigint_default)
    pexpect.spawn(argv[0], argv[1:], preexec_fn=sigint_default)

``sigint_ignored`` does the opposite, to check that a program keeps an inherited ``SIG_IGN``
(standard Unix behaviour).
"""

from __future__ import annotations

import signal

__all__ = ["sigint_default", "sigint_ignored"]


def sigint_default() -> None:
    """In the child, before ``exec``: SIGINT at its default disposition."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sigint_ignored() -> None:
    """In the child, before ``exec``: SIGINT ignored, as in a background job."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
