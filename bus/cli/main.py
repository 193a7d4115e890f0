"""Entry point of the ``silian`` command.

Every sub-command group is a module exposing ``register(subparsers)``; its handlers take
the parsed namespace and return an exit code (:class:`bus.cli._common.ExitCode`). Any
:class:`SilianError` becomes one line on stderr — never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from types import ModuleType

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
from bus.cli._common import ExitCode
from bus.errors import ConfigError, ContractError, SilianEnvironmentError, SilianError
from bus.logs import configure_logging

__all__ = ["build_parser", "main"]

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="silian",
        description="四联 cooperation bus: signed events between neighbouring police agencies.",
    )
    parser.add_argument(
        "--log-format",
        choices=("auto", "json", "console"),
        default="auto",
        help="log rendering: JSON when not on a terminal (default auto)",
    )
    parser.add_argument(
        "--log-level", default=None, help="log level (default WARNING; ERROR for the demo)"
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = args.log_level or getattr(args, "default_log_level", "WARNING")
    configure_logging(fmt=args.log_format, level=level)
    try:
        code = int(args.func(args))
    except SilianError as error:
        print(f"silian: error: {error}", file=sys.stderr)
        code = _exit_code_for(error)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
        # A path the user gave that is not there: their input, one line (exit 2).
        print(f"silian: error: {error.strerror}: {error.filename}", file=sys.stderr)
        code = ExitCode.USAGE
    except PermissionError as error:
        print(f"silian: error: {error.strerror}: {error.filename}", file=sys.stderr)
        code = ExitCode.ENVIRONMENT
    except KeyboardInterrupt:
        print("silian: interrupted", file=sys.stderr)
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``silian … | head``): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = ExitCode.OK
    return code


if __name__ == "__main__":  # pragma: no cover - python -m bus.cli.main
    sys.exit(main())
