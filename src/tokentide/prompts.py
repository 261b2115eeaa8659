"""Prompt templates: ``{variable}`` slots filled in, handed to a model as a prompt value.

Example::

    from tokentide.prompts import ChatPromptTemplate, MessagesPlaceholder

    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are {role}."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    value = prompt.invoke({"role": "terse", "history": [], "question": "Why?"})
    value.to_messages()  # [SystemMessage(...), HumanMessage(...)]
"""

from tokentide.runtime._prompts import *  # noqa: F403 - the names of its __all__
from tokentide.runtime._prompts import __all__ as __all__
