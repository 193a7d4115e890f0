"""Entry point of the ``silian`` command.

Every sub-command group is a module exposing ``register(subparsers)``; its handlers take
the parsed namespace and return an exit code (:class:`bus.cli._common.ExitCode`). The
bus's own groups are listed below; a package above the bus adds its groups through the
``silian.commands`` entry-point group (``silian agency`` comes from ``adapters``, see
pyproject.toml), so the bus never imports what stands above it. A registered group that
cannot be loaded is one warning line and is missing; the rest of the command works. Any
:class:`SilianError` becomes one line on stderr — never a traceback; any other exception
becomes one line too (``silian: internal error: …``, exit 70). The exit code never lies:
only a broken pipe on stdout (``silian … | head``) is quiet, and then the command still
exits with its own verdict.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from bus.cli import (
    agreement,
    audit,
    contracts,
    demo,
    dev,
    keys,
    publish,
    quarantine,
    serve,
    state,
    status,
    topics,
    watch,
)
from bus.cli._common import COMMAND_GROUPS, ExitCode, guarded_stdout
from bus.errors import (
    ConfigError,
    ContractError,
    PassphraseError,
    SilianEnvironmentError,
    SilianError,
)
from bus.logs import LOG_FORMATS, LOG_LEVELS, configure_logging, get_logger
from bus.settings import PASSPHRASE_VARIABLE

__all__ = ["build_parser", "main", "run"]

_log = get_logger(__name__)

# The bus's own sub-command groups by command name, in the order --help lists them; the
# registered groups (``silian agency``: a process an agency runs, like serve) come between
# the two, by name.
_RUNNING: dict[str, ModuleType] = {
    "demo": demo,
    "publish": publish,
    "status": status,
    "watch": watch,
    "serve": serve,
}
_MANAGING: dict[str, ModuleType] = {
    "topics": topics,
    "audit": audit,
    "contracts": contracts,
    "keys": keys,
    "agreement": agreement,
    "quarantine": quarantine,
    "state": state,
    "dev": dev,
}


class _Parser(argparse.ArgumentParser):
    """Every silian parser, each sub-command's too, takes the logging flags: they may come
    before the sub-command or after it (``silian serve --log-level DEBUG``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        group = self.add_argument_group("logging")
        # SUPPRESS: a flag not given after the sub-command keeps what was given before it
        group.add_argument(
            "--log-format",
            choices=LOG_FORMATS,
            default=argparse.SUPPRESS,
            help="log rendering: JSON when not on a terminal (default auto)",
        )
        group.add_argument(
            "--log-level",
            type=str.upper,
            choices=LOG_LEVELS,
            default=argparse.SUPPRESS,
            metavar="LEVEL",
            help=f"{', '.join(LOG_LEVELS)} in any case (default WARNING; INFO for serve "
            "and agency run; ERROR for the demos); DEBUG also prints the traceback of an "
            "internal error",
        )
        group.add_argument(
            "--log-file",
            type=Path,
            default=argparse.SUPPRESS,
            metavar="PATH",
            help="also append every log line to PATH as JSON, the file made 0600 and made "
            "again after logrotate moves it (default $SILIAN_LOG_FILE; none)",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="silian",
        description="四联 cooperation bus: signed events between neighbouring police agencies.",
        epilog="exit codes: 0 ok, 1 a problem found, 2 bad input, 3 environment, "
        "70 internal error, 130 interrupted (docs/cli.md)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _RUNNING.values():
        module.register(sub)
    for name, target, module in _registered():
        try:
            module.register(sub)
        except Exception as error:  # noqa: BLE001 - a broken group leaves the rest working
            _unloaded(name, target, error)
    for module in _MANAGING.values():
        module.register(sub)
    return parser


def _registered() -> Iterator[tuple[str, str, Any]]:
    """The command modules registered under :data:`COMMAND_GROUPS`, sorted by name; one
    that does not import, or has no ``register``, is a warning and is left out."""
    seen: set[str] = set()
    for point in sorted(entry_points(group=COMMAND_GROUPS), key=lambda p: p.name):
        if point.name in seen:  # the same distribution found twice on the path
            continue
        seen.add(point.name)
        if point.name in _RUNNING or point.name in _MANAGING:
            _unloaded(point.name, point.value, "the name is one of silian's own commands")
            continue
        try:
            module = point.load()
        except Exception as error:  # noqa: BLE001 - whatever the import raised, one line
            _unloaded(point.name, point.value, error)
            continue
        if not callable(getattr(module, "register", None)):
            _unloaded(point.name, point.value, "it has no register(subparsers)")
            continue
        yield point.name, point.value, module


def _unloaded(name: str, target: str, why: BaseException | str) -> None:
    if isinstance(why, BaseException):
        why = f"{type(why).__name__}: {why}"
    _say(f"silian: warning: command group {name!r} ({target}) not loaded: {why}")


def _exit_code_for(error: SilianError) -> ExitCode:
    if isinstance(error, SilianEnvironmentError):
        return ExitCode.ENVIRONMENT
    if isinstance(error, ConfigError | ContractError):
        return ExitCode.USAGE
    return ExitCode.FAILED


def _say(message: str) -> None:
    """One line on stderr, whatever the message holds (a library's text may hold more)."""
    print(" ".join(message.splitlines()), file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run the parsed command; every failure becomes one line on stderr and an exit code.

    A broken pipe on stdout is not a failure: the output is dropped and the command's own
    verdict stands (:func:`bus.cli._common.guarded_stdout`). Anything else unexpected —
    any other broken pipe too — is an internal error: one line, exit 70, and the
    traceback at ``--log-level DEBUG``.
    """
    try:
        with guarded_stdout():
            return int(args.func(args))
    except KeyboardInterrupt:
        _say("silian: interrupted")
        return ExitCode.INTERRUPTED
    except Exception as error:  # noqa: BLE001 - a defect still ends in one line, not a traceback
        return _failed(error)


_PATH_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def _failed(error: Exception) -> int:
    """Say what went wrong in one line; the exit code that means it."""
    if isinstance(error, SilianError):
        line, code = f"silian: error: {error}", _exit_code_for(error)
        if isinstance(error, PassphraseError):
            line += (
                f" (silian reads it from ${PASSPHRASE_VARIABLE}, or from the variable "
                "--passphrase-env names)"
            )
    elif isinstance(error, _PATH_ERRORS) and error.filename is not None:
        # A path the user gave that is not there (exit 2) or not theirs to read (exit 3).
        line = f"silian: error: {error.strerror}: {error.filename}"
        code = ExitCode.ENVIRONMENT if isinstance(error, PermissionError) else ExitCode.USAGE
    else:
        _log.debug("cli.internal_error", exc_info=error)
        line = (
            f"silian: internal error: {type(error).__name__}: {error} "
            "(run again with --log-level DEBUG for the traceback)"
        )
        code = ExitCode.INTERNAL
    _say(line)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = str(getattr(args, "log_level", None) or getattr(args, "default_log_level", "WARNING"))
    log_file = getattr(args, "log_file", None) or os.environ.get("SILIAN_LOG_FILE") or None
    try:
        configure_logging(
            fmt=getattr(args, "log_format", "auto"),
            level=level,
            file=Path(log_file) if log_file else None,
        )
    except SilianError as error:  # a log file that cannot be opened: one line, like any error
        return _failed(error)
    return run(args)


if __name__ == "__main__":  # pragma: no cover - python -m bus.cli.main
    sys.exit(main())
