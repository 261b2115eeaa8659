"""Output parsers: a model's streamed reply as text, or as JSON values while it arrives.

Example::

    from tokentide.output_parsers import JsonOutputParser, StrOutputParser

    for text in (prompt | model | StrOutputParser()).stream({"topic": "cats"}):
        print(text, end="", flush=True)
    for partial in (prompt | model | JsonOutputParser()).stream({"topic": "cats"}):
        print(partial)  # {}, {"name": ""}, {"name": "Tom"}, ...
"""

from tokentide.runtime._parsers import (
    BaseOutputParser,
    JsonOutputParser,
    OutputParserException,
    StrOutputParser,
)

__all__ = [
    "BaseOutputParser",
    "JsonOutputParser",
    "OutputParserException",
    "StrOutputParser",
]
