"""One structlog setup for the whole project.

JSON lines when output is not a terminal (services, CI) or when asked for; a readable
console rendering otherwise. Context is bound with :mod:`structlog.contextvars`, so a
record's event id, topic and agency follow every line logged while handling it::

    with bound_record(event_id=..., topic=..., agency=...):
        log.info("record.verified")
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, MutableMapping
from datetime import datetime
from typing import Any, Literal, TextIO

import structlog

from bus.errors import ConfigError
from contracts.vocab import FEDERATION_TZ

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "LogFormat",
    "bound_record",
    "configure_logging",
    "get_logger",
]

LogFormat = Literal["auto", "json", "console"]
LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "json", "console")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Names of fields that must never reach a log line, whatever a caller binds.
_REDACTED_KEYS = frozenset({"private_key", "secret", "passphrase", "password", "data_key"})


def _timestamp(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # RFC 3339 with the federation's offset, as officers read times (+08:00), whatever
    # zone the machine's clock is set to (servers often run in UTC).
    event_dict["timestamp"] = datetime.now(FEDERATION_TZ).isoformat(timespec="milliseconds")
    return event_dict


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in _REDACTED_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(
    *, fmt: LogFormat = "auto", level: str = "INFO", stream: TextIO | None = None
) -> None:
    """Configure structlog (and the stdlib root logger it feeds) once per process.

    ``level`` is one of :data:`LOG_LEVELS`, in any case; another is a ConfigError (a typo
    must not quietly log at some other level).
    """
    if level.upper() not in LOG_LEVELS:
        raise ConfigError(f"unknown log level {level!r}; use one of {', '.join(LOG_LEVELS)}")
    out = stream if stream is not None else sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    numeric = logging.getLevelNamesMapping()[level.upper()]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _timestamp,
        _redact,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # aiokafka logs through the stdlib: its lines take the same path and look the same
    # (JSON among JSON, with level, time and logger), kept quiet unless asked for debug.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), handlers=[handler], force=True)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; ``name`` becomes the ``logger`` field."""
    return structlog.get_logger(name) if name else structlog.get_logger()


@contextlib.contextmanager
def bound_record(**fields: str | int | None) -> Iterator[None]:
    """Bind record context (event_id, topic, agency, ...) for the duration of a block."""
    clean = {k: v for k, v in fields.items() if v is not None}
    with structlog.contextvars.bound_contextvars(**clean):
        yield
