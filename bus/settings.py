"""Where a bus process finds its identity, keys, agreement, state and broker.

From command-line flags, falling back to environment variables, falling back to defaults:

=================  ==========================  ==========================================
flag               environment                 default
=================  ==========================  ==========================================
``--agency``       ``SILIAN_AGENCY``           (required)
``--keys``         ``SILIAN_KEY_DIR``          ``~/.config/silian/keys``
``--agreement``    ``SILIAN_AGREEMENT_DIR``    ``./agreement``
``--state``        ``SILIAN_STATE_DIR``        ``~/.local/state/silian``
``--kafka``        ``SILIAN_KAFKA_BOOTSTRAP``  none: the embedded transport is used
``--embedded``     ``SILIAN_EMBEDDED``         ``<state>/embedded.sqlite``
=================  ==========================  ==========================================
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bus.errors import ConfigError
from bus.node.bus import Bus
from bus.state.private import private_folder
from bus.transport import connect
from bus.transport.base import Transport

__all__ = [
    "Settings",
    "add_bus_arguments",
    "agreement_dir",
    "check_bootstrap",
    "kafka_bootstrap",
    "open_bus",
    "open_transport",
    "settings_from_args",
]


@dataclass(frozen=True, kw_only=True)
class Settings:
    agency: str
    key_dir: Path
    agreement_dir: Path
    state_dir: Path
    kafka: str | None
    embedded: Path
    passphrase: bytes | None = None

    @property
    def transport_label(self) -> str:
        return f"Kafka {self.kafka}" if self.kafka else f"embedded {self.embedded}"


def add_bus_arguments(parser: argparse.ArgumentParser, *, agency: bool = True) -> None:
    group = parser.add_argument_group("bus")
    if agency:
        group.add_argument(
            "--agency", default=None, help="this agency's 12-digit code (default $SILIAN_AGENCY)"
        )
    group.add_argument(
        "--keys",
        type=Path,
        default=None,
        help="key folder (default $SILIAN_KEY_DIR or ~/.config/silian/keys)",
    )
    group.add_argument(
        "--passphrase-env",
        metavar="VAR",
        default=None,
        help="environment variable holding the key files' passphrase",
    )
    group.add_argument(
        "--agreement",
        type=Path,
        default=None,
        help="agreement folder (default $SILIAN_AGREEMENT_DIR or ./agreement)",
    )
    group.add_argument(
        "--state",
        type=Path,
        default=None,
        help="local state folder (default $SILIAN_STATE_DIR or ~/.local/state/silian)",
    )
    where = group.add_mutually_exclusive_group()
    where.add_argument(
        "--kafka",
        metavar="HOST:PORT",
        default=None,
        help="Kafka bootstrap servers (default $SILIAN_KAFKA_BOOTSTRAP; "
        "without it the embedded transport is used)",
    )
    where.add_argument(
        "--embedded",
        type=Path,
        default=None,
        help="embedded transport file (default <state>/embedded.sqlite)",
    )


def settings_from_args(args: argparse.Namespace, *, agency_required: bool = True) -> Settings:
    """``agency_required=False`` for operator commands (``topics``): agency becomes ``""``."""
    env = os.environ
    agency = getattr(args, "agency", None) or env.get("SILIAN_AGENCY") or ""
    if not agency and agency_required:
        raise ConfigError("which agency is this? pass --agency CODE or set SILIAN_AGENCY")
    state = args.state or Path(env.get("SILIAN_STATE_DIR") or Path.home() / ".local/state/silian")
    passphrase = None
    if args.passphrase_env:
        value = env.get(args.passphrase_env)
        if not value:
            raise ConfigError(f"environment variable {args.passphrase_env} is not set or empty")
        passphrase = value.encode("utf-8")
    kafka = kafka_bootstrap(args.kafka, flag="--kafka") if args.kafka or not args.embedded else None
    keys = args.keys or Path(env.get("SILIAN_KEY_DIR") or Path.home() / ".config/silian/keys")
    embedded = args.embedded or Path(env.get("SILIAN_EMBEDDED") or state / "embedded.sqlite")
    if embedded.is_dir():
        raise ConfigError(f"embedded transport file {embedded} is a folder; name a file in it")
    return Settings(
        agency=agency,
        key_dir=_folder(keys, "key folder (--keys, $SILIAN_KEY_DIR)"),
        agreement_dir=agreement_dir(args.agreement),
        state_dir=_folder(state, "state folder (--state, $SILIAN_STATE_DIR)"),
        kafka=kafka,
        embedded=embedded,
        passphrase=passphrase,
    )


def _folder(path: Path, what: str) -> Path:
    """``path``, if it is a folder or can be made one; ConfigError naming ``what`` if not."""
    for place in (path, *path.parents):
        if place.exists():
            if not place.is_dir():
                named = "" if place == path else f" ({place} is a file)"
                raise ConfigError(f"{what} {path} is not a folder{named}")
            break
    return path


def agreement_dir(given: Path | None) -> Path:
    """``given``, else ``$SILIAN_AGREEMENT_DIR``, else ``./agreement``."""
    return given or Path(os.environ.get("SILIAN_AGREEMENT_DIR") or "agreement")


def kafka_bootstrap(given: str | None, *, flag: str = "--bootstrap") -> str | None:
    """``given``, else ``$SILIAN_KAFKA_BOOTSTRAP`` (None: no Kafka named), checked.

    A list that is not ``HOST:PORT[,HOST:PORT…]`` is a ConfigError naming where it came
    from (``flag`` or the variable), before any client tries to connect.
    """
    if given:
        return check_bootstrap(given, source=flag)
    from_env = os.environ.get("SILIAN_KAFKA_BOOTSTRAP")
    return check_bootstrap(from_env, source="$SILIAN_KAFKA_BOOTSTRAP") if from_env else None


_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})")


def check_bootstrap(servers: str, *, source: str) -> str:
    """``servers`` if it is a list of ``HOST:PORT`` (an IPv6 host in brackets); else a
    ConfigError saying which entry is wrong and what ``source`` it came from."""
    for entry in servers.split(","):
        match = _HOST_PORT.fullmatch(entry.strip())
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise ConfigError(
                f"{source} {servers!r}: {entry.strip()!r} is not HOST:PORT "
                "(a list is HOST:PORT,HOST:PORT; an IPv6 address goes in brackets, [::1]:9092)"
            )
    return servers


def open_transport(settings: Settings) -> Transport:
    """The transport ``settings`` name (:func:`bus.transport.connect`), not started."""
    client = f"silian-{settings.agency or 'operator'}"
    return connect(settings.kafka, embedded=settings.embedded, client_id=client)


@contextlib.asynccontextmanager
async def open_bus(settings: Settings, *, publisher_name: str = "main") -> AsyncIterator[Bus]:
    """A started :class:`Bus` for ``settings``, with its transport; both stopped after.

    Each publishing process of an agency needs its own ``publisher_name`` (its own chains):
    ``silian serve`` uses ``main``, ``silian publish`` uses ``cli``.
    """
    private_folder(settings.state_dir)  # the store makes and checks <state>/<agency> in it
    transport = open_transport(settings)
    await transport.start()
    try:
        bus = Bus.from_folders(
            agency=settings.agency,
            agreement_dir=settings.agreement_dir,
            key_dir=settings.key_dir,
            passphrase=settings.passphrase,
            state_dir=settings.state_dir / settings.agency,
            publisher_name=publisher_name,
            transport=transport,
        )
        async with bus:
            yield bus
    finally:
        await transport.stop()
