"""One structlog setup for the whole project.

JSON lines when output is not a terminal (services, CI) or when asked for; a readable
console rendering otherwise. A log file (``silian --log-file PATH``) gets every line stderr
gets as well, always as JSON, appended to a file made 0600 (and made again when logrotate
moves it away). Context is bound with :mod:`structlog.contextvars`, so a record's event id,
topic and agency follow every line logged while handling it::

    with bound_record(event_id=..., topic=..., agency=...):
        log.info("record.verified")
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator, MutableMapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TextIO

import structlog

from bus.errors import ConfigError, SilianEnvironmentError, SilianError
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


class _LogFile:
    """A structlog processor that appends each line, as JSON, to a file, then passes the
    line on unchanged (to stderr's renderer).

    The file is opened for appending and made 0600 when it does not exist (log lines name
    agencies, events and refusals). Before each line it checks that the path still names
    the file it holds open: once logrotate has moved or removed it, a new file is made,
    so no ``copytruncate`` is needed. A write that fails (a full disk) is said once on
    stderr and the service goes on: a log file must never stop the bus.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._render = structlog.processors.JSONRenderer(ensure_ascii=False)
        self._failing = False
        self._fd, self._identity = self._open()

    def _open(self) -> tuple[int, tuple[int, int]]:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o600)
        except PermissionError as error:
            raise SilianEnvironmentError(f"log file {self.path}: {error.strerror}") from error
        except OSError as error:
            raise ConfigError(f"log file {self.path}: {error.strerror}") from error
        opened = os.fstat(fd)
        return fd, (opened.st_dev, opened.st_ino)

    def _reopen_if_moved(self) -> None:
        try:
            now = os.stat(self.path)
            if (now.st_dev, now.st_ino) == self._identity:
                return
        except FileNotFoundError:
            pass
        fd, identity = self._open()
        os.close(self._fd)
        self._fd, self._identity = fd, identity

    def _write(self, data: bytes) -> None:
        with self._lock:
            self._reopen_if_moved()
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        line = self._render(logger, method, dict(event_dict))
        data = line.encode() if isinstance(line, str) else line
        try:
            self._write(data + b"\n")
        except (OSError, SilianError) as error:
            if not self._failing:
                print(f"silian: warning: log file {self.path}: {error}", file=sys.stderr)
            self._failing = True
        else:
            self._failing = False
        return event_dict

    def close(self) -> None:
        with self._lock:
            os.close(self._fd)


_log_file: _LogFile | None = None  # the file of the last configure_logging, closed by the next


def configure_logging(
    *,
    fmt: LogFormat = "auto",
    level: str = "INFO",
    stream: TextIO | None = None,
    file: Path | None = None,
) -> None:
    """Configure structlog (and the stdlib root logger it feeds) once per process.

    ``level`` is one of :data:`LOG_LEVELS`, in any case; another is a ConfigError (a typo
    must not quietly log at some other level). ``file``: also append every line there as
    JSON (made 0600); a file that cannot be opened is a ConfigError, or a
    SilianEnvironmentError when permission is denied.
    """
    global _log_file  # noqa: PLW0603 - one logging setup per process, as structlog's own
    if level.upper() not in LOG_LEVELS:
        raise ConfigError(f"unknown log level {level!r}; use one of {', '.join(LOG_LEVELS)}")
    sink = _LogFile(file) if file is not None else None
    if _log_file is not None:
        _log_file.close()
    _log_file = sink
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
    to_file: list[Any] = [] if sink is None else [sink]
    structlog.configure(
        processors=[*shared, *to_file, renderer],
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
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *to_file,
                renderer,
            ],
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
