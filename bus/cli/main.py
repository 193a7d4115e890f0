"""Entry point of the ``silian`` command.

Every sub-command group is a module exposing ``register(subparsers)``; its handlers take
the parsed namespace and return an exit code (:class:`bus.cli._common.ExitCode`). Any
:class:`SilianError` becomes one line on stderr — never a traceback; any other exception
becomes one line too (``silian: internal error: …``, exit 70). The exit code never lies:
only a broken pipe on stdout (``silian … | head``) is quiet, and then the command still
exits with its own verdict.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from bus.cli import (
    agency,
    agreement,
    audit,
    contracts,
    demo,
    dev,
    keys,
    publish,
    serve,
    status,
    topics,
    watch,
)
from bus.cli._common import ExitCode, guarded_stdout
from bus.errors import ConfigError, ContractError, SilianEnvironmentError, SilianError
from bus.logs import LOG_FORMATS, LOG_LEVELS, configure_logging, get_logger

__all__ = ["build_parser", "main", "run"]

_log = get_logger(__name__)

# Sub-command groups, in the order --help lists them.
_COMMAND_MODULES: tuple[ModuleType, ...] = (
    demo,
    publish,
    status,
    watch,
    serve,
    agency,
    topics,
    audit,
    contracts,
    keys,
    agreement,
    dev,
)


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="silian",
        description="四联 cooperation bus: signed events between neighbouring police agencies.",
        epilog="exit codes: 0 ok, 1 a problem found, 2 bad input, 3 environment, "
        "70 internal error, 130 interrupted (docs/cli.md)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _COMMAND_MODULES:
        module.register(sub)
    return parser


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
    configure_logging(fmt=getattr(args, "log_format", "auto"), level=level)
    return run(args)


if __name__ == "__main__":  # pragma: no cover - python -m bus.cli.main
    sys.exit(main())
