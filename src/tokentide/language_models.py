"""Model bases and fake models under LangChain's module path
(``langchain_core.language_models``).

Example::

    from tokentide.language_models import GenericFakeChatModel
    from tokentide.messages import AIMessage

    model = GenericFakeChatModel(messages=iter([AIMessage("hello world")]))
"""

from tokentide.models._base import BaseChatModel, LanguageModelInput
from tokentide.models._fake import FakeChatModel
from tokentide.models._fake_compat import FakeListChatModel, GenericFakeChatModel
from tokentide.models._llm_base import BaseLLM

__all__ = [
    "BaseChatModel",
    "BaseLLM",
    "FakeChatModel",
    "FakeListChatModel",
    "GenericFakeChatModel",
    "LanguageModelInput",
]
