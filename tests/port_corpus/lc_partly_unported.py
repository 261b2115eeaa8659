"""A chain whose output is read by a helper tokentide does not have: that import stays (and
is reported), the rest is ported."""

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.utils.json import parse_json_markdown  # not-ported

model = GenericFakeChatModel(messages=iter([AIMessage('```json\n{"answer": 42}\n```')]))
text = ""
for piece in (model | StrOutputParser()).stream("what is the answer?"):
    print(repr(piece), end="|")
    text += piece
print()
print(parse_json_markdown(text))
