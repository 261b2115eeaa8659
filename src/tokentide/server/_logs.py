"""Server logs on standard `logging`: one line per record, as text or as JSON.

The access logger (``tokentide.server.access``) attaches its fields to each record
(``record.tokentide``); the JSON format writes them as keys of the line, the text format
writes the message only. Failures carry their traceback (``traceback`` in JSON).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

__all__ = ["JsonFormatter", "configure_logging"]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, the record's
    ``tokentide`` fields, and ``traceback`` when it has one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "tokentide", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(fmt: str = "text", level: str = "info") -> logging.Handler:
    """Send ``tokentide`` (and uvicorn's) log records to standard error in ``fmt`` (``text`` or
    ``json``); returns the handler installed. Calling it again replaces that handler; other
    handlers and propagation are left as they are."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', got {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT))
    handler.set_name(_HANDLER)
    numeric = logging.getLevelName(level.upper())
    # uvicorn.error and uvicorn.access propagate to "uvicorn": one handler there is enough.
    for name in ("tokentide", "uvicorn"):
        log = logging.getLogger(name)
        for old in [h for h in log.handlers if h.get_name() == _HANDLER]:
            log.removeHandler(old)
        log.addHandler(handler)
        log.setLevel(numeric if isinstance(numeric, int) else logging.INFO)
    return handler


_HANDLER = "tokentide-serve"
