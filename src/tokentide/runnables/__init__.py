"""Runnables: the interface every model, prompt, parser, chain and graph implements.

Example::

    from tokentide.runnables import RunnableLambda, RunnableParallel

    chain = RunnableParallel(a=RunnableLambda(lambda x: x + 1), b=lambda x: x * 2)
    assert chain.invoke(3) == {"a": 4, "b": 6}
"""

from tokentide.runtime._base import Runnable, RunnableBinding
from tokentide.runtime._compose import (
    RunnableAssign,
    RunnableGenerator,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnableSequence,
    chain,
    coerce_to_runnable,
)
from tokentide.runtime._config import RunnableConfig, ensure_config, merge_configs
from tokentide.runtime._context import RunContext, current_run
from tokentide.runtime._events import StreamEvent, adispatch_custom_event, dispatch_custom_event

__all__ = [
    "RunContext",
    "Runnable",
    "RunnableAssign",
    "RunnableBinding",
    "RunnableConfig",
    "RunnableGenerator",
    "RunnableLambda",
    "RunnableParallel",
    "RunnablePassthrough",
    "RunnableSequence",
    "StreamEvent",
    "adispatch_custom_event",
    "chain",
    "coerce_to_runnable",
    "current_run",
    "dispatch_custom_event",
    "ensure_config",
    "merge_configs",
]
