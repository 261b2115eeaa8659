"""Custom events, under the module path LangChain users import them from.

Example::

    from tokentide.callbacks import adispatch_custom_event

    async def step(x):
        await adispatch_custom_event("progress", {"pct": 50})
        return x
"""

from tokentide.runtime._events import adispatch_custom_event, dispatch_custom_event

__all__ = ["adispatch_custom_event", "dispatch_custom_event"]
