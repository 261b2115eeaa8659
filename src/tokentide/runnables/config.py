"""``RunnableConfig`` and its helpers under LangChain's module path
(``langchain_core.runnables.config``).

Example::

    from tokentide.runnables.config import RunnableConfig

    config: RunnableConfig = {"tags": ["demo"], "configurable": {"thread_id": "1"}}
"""

from tokentide.runtime._config import RunnableConfig, ensure_config, merge_configs

__all__ = ["RunnableConfig", "ensure_config", "merge_configs"]
