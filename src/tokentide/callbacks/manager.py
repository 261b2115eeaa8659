"""Custom events under LangChain's module path (``langchain_core.callbacks.manager``).

Example::

    from tokentide.callbacks.manager import adispatch_custom_event

    async def step(x):
        await adispatch_custom_event("progress", {"pct": 50})
        return x
"""

from tokentide.runtime import adispatch_custom_event, dispatch_custom_event

__all__ = ["adispatch_custom_event", "dispatch_custom_event"]
