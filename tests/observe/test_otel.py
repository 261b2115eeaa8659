"""OpenTelemetry GenAI spans and metrics, read back from the SDK's in-memory exporters."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode  # noqa: E402

from tokentide import observe  # noqa: E402
from tokentide.graph import END, START, StateGraph  # noqa: E402
from tokentide.models import FakeChatModel  # noqa: E402
from tokentide.runtime._base import Runnable  # noqa: E402
from tokentide.runtime._context import RunContext  # noqa: E402


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        tracer = TracerProvider()
        tracer.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter = MeterProvider(metric_readers=[self.reader])
        self.tracer = tracer

    def finished(self) -> dict[str, Any]:
        return {s.name: s for s in self.spans.get_finished_spans()}

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        out: list[Any] = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        out.extend(metric.data.data_points)
        return out


@pytest.fixture
def otel(monkeypatch: pytest.MonkeyPatch) -> Iterator[Telemetry]:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    t = Telemetry()
    observe.instrument(tracer_provider=t.tracer, meter_provider=t.meter)
    try:
        yield t
    finally:
        observe.uninstrument()
        t.tracer.shutdown()
        t.meter.shutdown()


async def test_chat_span_and_metrics(otel: Telemetry) -> None:
    model = FakeChatModel([["Hel", "lo", " you"]], model_name="m-1")
    async for _ in model.astream("say hi"):
        pass
    span = otel.finished()["chat m-1"]
    attrs = dict(span.attributes)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "fake"
    assert attrs["gen_ai.request.model"] == "m-1"
    assert attrs["gen_ai.response.model"] == "m-1"
    assert attrs["gen_ai.usage.input_tokens"] == 2
    assert attrs["gen_ai.usage.output_tokens"] == 3
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.request.stream"] is True
    assert "gen_ai.input.messages" not in attrs and "gen_ai.output.messages" not in attrs
    assert span.status.status_code == StatusCode.UNSET
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and duration.explicit_bounds[:3] == (0.01, 0.02, 0.04)
    assert duration.attributes["gen_ai.request.model"] == "m-1"
    usage = {
        p.attributes["gen_ai.token.type"]: p.sum for p in otel.points("gen_ai.client.token.usage")
    }
    assert usage == {"input": 2, "output": 3}
    (ttfc,) = otel.points("gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.count == 1
    assert otel.points("gen_ai.client.operation.time_per_output_chunk")[0].count == 1


def test_invoke_is_not_a_stream_and_content_is_opt_in(
    otel: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    observe.instrument(tracer_provider=otel.tracer, meter_provider=otel.meter, capture=True)
    FakeChatModel([["a", "b"]]).invoke("question")
    attrs = dict(otel.finished()["chat fake-chat"].attributes)
    assert attrs["gen_ai.request.stream"] is False
    assert '"content": "question"' in attrs["gen_ai.input.messages"]
    assert '"content": "ab"' in attrs["gen_ai.output.messages"]
    assert otel.points("gen_ai.client.operation.time_to_first_chunk") == []


async def test_cancelled_stream_is_marked(otel: Telemetry) -> None:
    stream = FakeChatModel([["a", "b", "c", "d"]]).astream("hi")
    async for _ in stream:
        break
    await stream.aclose()
    attrs = dict(otel.finished()["chat fake-chat"].attributes)
    assert attrs["gen_ai.response.finish_reasons"] == ("cancelled",)
    assert attrs["tokentide.cancelled"] is True
    assert attrs["gen_ai.usage.output_tokens"] == 1


def test_failed_model_records_the_error(otel: Telemetry) -> None:
    with pytest.raises(Exception, match="scripted failure"):
        list(FakeChatModel([["a", "b"]], error_after=1).stream("hi"))
    span = otel.finished()["chat fake-chat"]
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "StreamInterrupted"
    assert [e.name for e in span.events] == ["exception"]
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "StreamInterrupted"


class Lookup(Runnable[Any, str]):
    """A tool run (``run_type == "tool"``), as tools report themselves."""

    run_type = "tool"
    name = "lookup"

    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> str:
        return "found"


def test_tool_span_has_the_call_id(otel: Telemetry) -> None:
    Lookup().invoke({"type": "tool_call", "id": "call_7", "name": "lookup", "args": {}})
    attrs = dict(otel.finished()["execute_tool lookup"].attributes)
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == "lookup"
    assert attrs["gen_ai.tool.call.id"] == "call_7"


class State(TypedDict):
    messages: Annotated[list[Any], operator.add]


async def test_agent_run_nests_model_and_tool_spans(otel: Telemetry) -> None:
    model = FakeChatModel([["x", "y"]])
    tool = Lookup()

    async def think(state: State) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    def act(state: State) -> dict[str, Any]:
        tool.invoke({"type": "tool_call", "id": "c1", "name": "lookup", "args": {}})
        return {"messages": []}

    builder = StateGraph(State)
    builder.add_node("think", think)
    builder.add_node("act", act)
    builder.add_edge(START, "think")
    builder.add_edge("think", "act")
    builder.add_edge("act", END)
    graph = builder.compile()
    graph.name = "helper"
    async for _ in graph.astream({"messages": [("human", "hi")]}, stream_mode="messages"):
        pass
    spans = otel.finished()
    agent = spans["invoke_agent helper"]
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.parent is None
    for name in ("chat fake-chat", "execute_tool lookup"):
        assert spans[name].parent.span_id == agent.context.span_id, name
        assert spans[name].context.trace_id == agent.context.trace_id


def test_nothing_is_recorded_after_uninstrument(otel: Telemetry) -> None:
    observe.uninstrument()
    FakeChatModel([["a"]]).invoke("hi")
    assert otel.finished() == {}


def test_nothing_is_imported_when_not_configured() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tokentide.models import FakeChatModel\n"
        "from tokentide.callbacks import BaseCallbackHandler\n"
        "FakeChatModel([['a']]).invoke('hi', {'callbacks': [BaseCallbackHandler()]})\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'prometheus',"
        " 'tokentide.observe'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_tokentide_tool_call_span(otel: Telemetry) -> None:
    from tokentide.tools import tool

    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    add.invoke({"name": "add", "args": {"a": 1, "b": 2}, "id": "call_9", "type": "tool_call"})
    attrs = dict(otel.finished()["execute_tool add"].attributes)
    assert attrs["gen_ai.tool.call.id"] == "call_9" and attrs["gen_ai.tool.name"] == "add"
