"""``tokentide chat``: an interactive chat with memory; replies stream as they are generated.

Ctrl-C during a reply stops the model at once (the local model within one token; an HTTP
stream is closed), keeps the partial reply in the conversation marked ``interrupted`` and
returns to the prompt. Ctrl-C or Ctrl-D at an empty prompt ends the chat. Lines that start
with ``/`` are commands (``/help``). Questions can also be piped in, one per line: stdout then
holds the replies only.

Example::

    tokentide chat --system "Answer in one sentence." --stats
    printf 'hi\\nmore\\n' | tokentide chat --model fake > replies.txt
"""

from __future__ import annotations

import argparse
import io
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from tokentide.messages import AIMessage
    from tokentide.models import BaseChatModel

    from ._conversation import Conversation
    from ._lines import LineReader
    from ._term import TrackedStream

__all__ = ["COMMAND", "HELP", "ORDER", "register", "run"]

COMMAND = "chat"
HELP = "Chat with a model interactively; replies stream, Ctrl-C interrupts one."
ORDER = 20
PROMPT = "> "

COMMANDS_HELP = """\
commands:
  /reset       forget the conversation (keeps the --system message)
  /save FILE   save the conversation as JSON
  /load FILE   load a conversation saved with /save
  /help        show this help
  /exit        end the chat (also Ctrl-D, or Ctrl-C at an empty prompt)
Ctrl-C during a reply stops it; the partial reply stays in the conversation.
Start a line with // to send a message that begins with /."""


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``chat`` arguments to ``parser``."""
    from ._models import MODEL_SPECS

    add = parser.add_argument
    add("--model", default="local", help=f"which model: {MODEL_SPECS} (default: local)")
    add(
        "--base-url",
        help="the server behind --model openai:<name>, openai-responses:<name> or anthropic:<name>",
    )
    add("--system", help="a system message that starts the conversation")
    add("--temperature", type=float, help="sampling temperature (0: greedy)")
    add("--max-tokens", type=int, help="most tokens to generate per reply")
    add("--seed", type=int, help="random seed, for repeatable replies")
    add("--pace", action="store_true", help="show replies at a steady reading rate")
    add("--markdown", action="store_true", help="render replies as Markdown on a terminal")
    add("--stats", action="store_true", help="after each reply: time to first token, speed, usage")
    add(
        "--tools",
        metavar="MODULE:ATTR",
        help="a list of tools: each question runs an agent that may call them",
    )
    add(
        "--approve",
        action="store_true",
        help="with --tools: ask before each tool call (y: run it, n: reject it, "
        "e: edit its arguments as JSON)",
    )
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    """Run ``tokentide chat``; returns the exit status (0 when the chat is ended)."""
    from tokentide.errors import MissingDependencyError

    from ._models import ModelSpecError, make_model

    parser: argparse.ArgumentParser = args.parser
    if args.approve and not args.tools:
        parser.error("--approve needs --tools MODULE:ATTR (it asks before each tool call)")
    if args.max_tokens is not None and args.max_tokens < 1:
        parser.error("--max-tokens must be a positive integer")
    if args.temperature is not None and args.temperature < 0:
        parser.error("--temperature must be zero or more")
    try:
        model = make_model(
            args.model,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            seed=args.seed,
            base_url=args.base_url,
        )
    except ModelSpecError as exc:
        parser.error(str(exc))
    except (MissingDependencyError, FileNotFoundError, ValueError) as exc:
        print(f"tokentide chat: error: {exc}", file=sys.stderr)
        return 1
    agent = None
    if args.tools:
        from ._agent import ToolsSpecError, load_tools, make_agent

        try:
            agent = make_agent(model, load_tools(args.tools), approve=args.approve)
        except (ToolsSpecError, TypeError, ValueError) as exc:
            print(f"tokentide chat: error: {exc}", file=sys.stderr)
            return 1
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")
    session = ChatSession(model, args)
    session.agent = agent
    return session.loop()


class ChatSession:
    """One run of ``tokentide chat``: reads lines, runs commands, streams replies."""

    def __init__(
        self,
        model: BaseChatModel,
        args: argparse.Namespace,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        from ._conversation import Conversation
        from ._lines import LineReader
        from ._term import is_tty

        self.model = model
        self.spec: str = args.model
        self.pace: bool = args.pace
        self.stats: bool = args.stats
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.markdown: bool = args.markdown and is_tty(self.stdout)
        self.conversation: Conversation = Conversation(system=args.system)
        self.agent: Any = None  # with --tools: the agent that answers (create_react_agent)
        self.approve = bool(getattr(args, "approve", False))  # ask before each tool call
        self.reader: LineReader = LineReader(self.stdin, self.stdout, self.stderr)

    def note(self, text: str) -> None:
        """A dim line on stderr."""
        from ._term import write_note

        write_note(text, self.stderr)

    def error(self, text: str) -> None:
        self.stderr.write(f"tokentide chat: error: {text}\n")
        self.stderr.flush()

    def loop(self) -> int:
        """Read and handle lines until the end of input, ``/exit`` or Ctrl-C at an empty
        prompt; returns 0."""
        if self.reader.interactive:
            tools = " · with tools" if self.agent is not None else ""
            self.note(
                f"tokentide chat · model {self.spec}{tools} · /help for commands · Ctrl-D to quit"
            )
        try:
            while True:
                try:
                    line = self.reader.read(PROMPT)
                except EOFError:
                    break
                except KeyboardInterrupt:
                    if self.reader.pending().strip():
                        self.stderr.write("\n")  # drop the line typed so far, ask again
                        continue
                    break
                try:
                    if not self.handle(line):
                        break
                except KeyboardInterrupt:  # Ctrl-C while running a command
                    self.note("[interrupted]")
        finally:
            self.reader.close()
            if self.reader.interactive:
                self.stderr.write("\n")
                self.stderr.flush()
        return 0

    def handle(self, line: str) -> bool:
        """Handle one typed line; returns False to end the chat."""
        text = line.strip()
        if not text:
            return True
        if text.startswith("/") and not text.startswith("//"):
            return self.command(text)
        self.turn(text[1:] if text.startswith("//") else text)
        return True

    def command(self, text: str) -> bool:
        """Run a ``/command``; returns False to end the chat."""
        name, _, argument = text.partition(" ")
        argument = argument.strip()
        if name in ("/exit", "/quit"):
            return False
        if name == "/help":
            self.stderr.write(COMMANDS_HELP + "\n")
            self.stderr.flush()
        elif name == "/reset":
            self.conversation.reset()
            self.note("[conversation cleared]")
        elif name in ("/save", "/load"):
            if not argument:
                self.error(f"{name} needs a file name, e.g. {name} chat.json")
            elif name == "/save":
                self.save(argument)
            else:
                self.load(argument)
        else:
            self.error(f"unknown command {name}; /help lists the commands")
        return True

    def save(self, path: str) -> None:
        try:
            self.conversation.save(path, model=self.spec)
        except OSError as exc:
            self.error(f"cannot save to {path!r}: {exc.strerror or exc}")
            return
        self.note(f"[saved {len(self.conversation.messages)} messages to {path}]")

    def load(self, path: str) -> None:
        from ._conversation import ConversationFileError

        try:
            model = self.conversation.load(path)
        except ConversationFileError as exc:
            self.error(f"cannot load {path}: {exc}")
            return
        saved_with = f" (saved with model {model})" if model and model != self.spec else ""
        self.note(f"[loaded {len(self.conversation.messages)} messages from {path}{saved_with}]")

    def turn(self, question: str) -> None:
        """Ask ``question`` with the conversation so far and stream the reply."""
        from tokentide.errors import TokentideError

        from ._term import Spinner, TrackedStream, print_reply

        self.conversation.add_question(question)
        if self.agent is not None:
            self.agent_turn()
            return
        spinner = Spinner(self.stderr, "waiting for the model")
        tracked: TrackedStream | None = None
        failure: BaseException | None = None
        spinner.start()
        try:
            stream = self.model.stream(list(self.conversation.messages))
            tracked = TrackedStream(stream, on_first=spinner.stop)
            print_reply(tracked, self.stdout, pace=self.pace, markdown=self.markdown)
        except KeyboardInterrupt as exc:
            failure = exc
        except (TokentideError, ValueError, OSError) as exc:
            failure = exc
        finally:
            spinner.stop()
        self._finish_turn(tracked, failure)

    def agent_turn(self) -> None:
        """Answer the last question with the agent: the answer streams on stdout, each tool
        call and result is a dim line on stderr."""
        from tokentide.errors import TokentideError

        from ._agent import AgentTurn
        from ._approve import ask_decision
        from ._term import Spinner, TrackedStream, print_reply

        spinner = Spinner(self.stderr, "waiting for the model")
        tracked: TrackedStream | None = None
        ended = 0  # where stdout's line was last ended for a note

        def note(text: str) -> None:
            nonlocal ended
            spinner.stop()
            shown = tracked.text if tracked is not None else ""
            if len(shown) > ended and not shown.endswith("\n"):
                self.stdout.write("\n")  # a note never starts in the middle of the answer
                self.stdout.flush()
            ended = len(shown)
            self.note(text)

        def ask(action: dict[str, Any], review: dict[str, Any]) -> dict[str, Any]:
            spinner.stop()  # the call was shown as a note (-> name {args}) just before
            return ask_decision(self.reader, self.stderr, action, review)

        turn = AgentTurn(self.agent, note, ask if self.approve else None)
        failure: BaseException | None = None
        spinner.start()
        try:
            tracked = TrackedStream(turn.chunks(self.conversation.messages), on_first=spinner.stop)
            print_reply(tracked, self.stdout, pace=self.pace, markdown=self.markdown)
        except KeyboardInterrupt as exc:
            failure = exc
        except (TokentideError, ValueError, TypeError, OSError) as exc:
            failure = exc
        finally:
            spinner.stop()
        self._finish_agent_turn(turn, tracked, failure)

    def _finish_agent_turn(
        self, turn: Any, tracked: TrackedStream | None, failure: BaseException | None
    ) -> None:
        """Keep what the agent produced: finished messages, and the partial text of a model
        turn that was cut short (marked ``interrupted``); a call left without its result is
        dropped (a model would refuse the conversation)."""
        from tokentide.messages import AIMessage

        interrupted = isinstance(failure, KeyboardInterrupt)
        if failure is not None and not interrupted:
            self.error(str(failure) or type(failure).__name__)
        messages = list(turn.messages)
        if messages and isinstance(messages[-1], AIMessage) and messages[-1].tool_calls:
            messages.pop()
        if turn.partial:
            meta: dict[str, Any] = {"interrupted": True}
            if failure is not None and not interrupted:
                meta["error"] = str(failure)
            messages.append(AIMessage(turn.partial, response_metadata=meta))
        if not messages:
            self.conversation.drop_question()
        for message in messages:
            if isinstance(message, AIMessage):
                self.conversation.add_reply(message)
            else:
                self.conversation.messages.append(message)
        if interrupted:
            self.note("[interrupted]")
        if self.stats and tracked is not None:
            from ._term import stats_line

            self.note(stats_line(tracked, tracked.accumulator.usage_metadata))

    def _finish_turn(self, tracked: TrackedStream | None, failure: BaseException | None) -> None:
        """Record the reply (partial after Ctrl-C or an error) and report on stderr."""
        interrupted = isinstance(failure, KeyboardInterrupt)
        if failure is not None and not interrupted:
            self.error(str(failure) or type(failure).__name__)
            if tracked is None or not tracked.text:
                self.conversation.drop_question()  # nothing came: forget the failed turn
                return
        if tracked is None:
            self.conversation.drop_question()
            return
        message = self._reply_message(tracked, failure)
        self.conversation.add_reply(message)
        if interrupted:
            self.note("[interrupted]")
        if self.stats:
            from ._term import stats_line

            self.note(stats_line(tracked, message.usage_metadata))

    def _reply_message(self, tracked: TrackedStream, failure: BaseException | None) -> AIMessage:
        if failure is None:
            return tracked.message()
        metadata: dict[str, Any] = {"interrupted": True}
        if not isinstance(failure, KeyboardInterrupt):
            metadata["error"] = str(failure)
        message = tracked.message(**metadata)
        if message.usage_metadata is None:
            message.usage_metadata = _usage_so_far(tracked)
        return message


def _usage_so_far(tracked: TrackedStream) -> Any:
    """The exact usage of a generation that was stopped early, from its stream's ``result``
    (the local model counts it); ``None`` when the provider did not report it."""
    result = getattr(tracked.stream, "result", None)
    if result is None or result.response_metadata.get("usage_estimated"):
        return None
    return result.usage_metadata
