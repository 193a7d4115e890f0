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

The key files' passphrase is read from the variable ``--passphrase-env VAR`` names, else
from ``SILIAN_KEY_PASSPHRASE`` when it is set (keys not encrypted otherwise).

Every command that takes one of these — the bus commands, ``silian keys``, ``silian
agreement``, ``silian audit``, ``silian state`` — takes it here (:func:`add_key_arguments`,
:func:`add_agency_argument`, :func:`add_state_argument`, :func:`agency_code`,
:func:`key_dir`, :func:`passphrase_from`, :func:`agreement_dir`), so a flag has one name
and one fallback everywhere.
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
    "PASSPHRASE_VARIABLE",
    "Settings",
    "add_agency_argument",
    "add_bus_arguments",
    "add_key_arguments",
    "add_state_argument",
    "agency_code",
    "agreement_dir",
    "check_bootstrap",
    "kafka_bootstrap",
    "key_dir",
    "listen_address",
    "open_bus",
    "open_transport",
    "passphrase_from",
    "settings_from_args",
    "state_dir",
]

PASSPHRASE_VARIABLE = "SILIAN_KEY_PASSPHRASE"  # noqa: S105 - the name of a variable, no secret
"""Where the key files' passphrase is read from when ``--passphrase-env`` names no other."""


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
        add_agency_argument(group)
    add_key_arguments(group)
    group.add_argument(
        "--agreement",
        type=Path,
        default=None,
        help="agreement folder (default $SILIAN_AGREEMENT_DIR or ./agreement)",
    )
    add_state_argument(group)
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


def add_agency_argument(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, what: str | None = None
) -> None:
    """``--agency CODE`` (read with :func:`agency_code`)."""
    parser.add_argument(
        "--agency",
        default=None,
        metavar="CODE",
        help=what or "this agency's 12-digit code (default $SILIAN_AGENCY)",
    )


def add_state_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--state DIR`` (read with :func:`state_dir`): the folder of every agency's state."""
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        metavar="DIR",
        help="local state folder (default $SILIAN_STATE_DIR or ~/.local/state/silian)",
    )


def add_key_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--keys DIR`` and ``--passphrase-env VAR``, as every command that signs takes them.

    ``--dir`` is still read as ``--keys`` (its name in ``keys`` and ``agreement`` before
    the flags were made one), but no longer shown.
    """
    parser.add_argument(
        "--keys",
        type=Path,
        default=None,
        metavar="DIR",
        help="key folder (default $SILIAN_KEY_DIR or ~/.config/silian/keys)",
    )
    parser.add_argument("--dir", dest="keys", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--passphrase-env",
        metavar="VAR",
        default=None,
        help="environment variable holding the private key files' passphrase (default "
        f"{PASSPHRASE_VARIABLE}, when it is set; the passphrase itself is never an argument)",
    )


def agency_code(given: str | None, *, required: bool = True) -> str:
    """``--agency``, else ``$SILIAN_AGENCY``; ``""`` when neither and not ``required``."""
    agency = given or os.environ.get("SILIAN_AGENCY") or ""
    if not agency and required:
        raise ConfigError("which agency is this? pass --agency CODE or set SILIAN_AGENCY")
    return agency


def key_dir(given: Path | None) -> Path:
    """``--keys``, else ``$SILIAN_KEY_DIR``, else ``~/.config/silian/keys`` (a folder)."""
    keys = given or Path(os.environ.get("SILIAN_KEY_DIR") or Path.home() / ".config/silian/keys")
    return _folder(keys, "key folder (--keys, $SILIAN_KEY_DIR)")


def state_dir(given: Path | None) -> Path:
    """``--state``, else ``$SILIAN_STATE_DIR``, else ``~/.local/state/silian`` (a folder)."""
    state = given or Path(os.environ.get("SILIAN_STATE_DIR") or Path.home() / ".local/state/silian")
    return _folder(state, "state folder (--state, $SILIAN_STATE_DIR)")


def passphrase_from(variable: str | None) -> bytes | None:
    """The key files' passphrase: from the variable ``--passphrase-env`` names (it must be
    set), else from :data:`PASSPHRASE_VARIABLE` if set, else None (keys not encrypted)."""
    if variable:
        value = os.environ.get(variable)
        if not value:
            raise ConfigError(f"environment variable {variable} is not set or empty")
        return value.encode("utf-8")
    value = os.environ.get(PASSPHRASE_VARIABLE)
    return value.encode("utf-8") if value else None


def settings_from_args(args: argparse.Namespace, *, agency_required: bool = True) -> Settings:
    """``agency_required=False`` for operator commands (``topics``): agency becomes ``""``."""
    env = os.environ
    agency = agency_code(getattr(args, "agency", None), required=agency_required)
    state = state_dir(args.state)
    kafka = kafka_bootstrap(args.kafka, flag="--kafka") if args.kafka or not args.embedded else None
    embedded = args.embedded or Path(env.get("SILIAN_EMBEDDED") or state / "embedded.sqlite")
    if embedded.is_dir():
        raise ConfigError(f"embedded transport file {embedded} is a folder; name a file in it")
    return Settings(
        agency=agency,
        key_dir=key_dir(args.keys),
        agreement_dir=agreement_dir(args.agreement),
        state_dir=state,
        kafka=kafka,
        embedded=embedded,
        passphrase=passphrase_from(args.passphrase_env),
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


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def listen_address(text: str, *, source: str, loopback_only: bool = False) -> tuple[str, int]:
    """``HOST:PORT`` (an IPv6 host in brackets) for an operator's endpoint; ConfigError
    naming ``source`` if it is not one (or, ``loopback_only``, not on this machine)."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{source}: {text!r} is not HOST:PORT")
    if loopback_only and host not in _LOOPBACK:
        raise ConfigError(f"{source}: listen must be a loopback HOST:PORT, got {text!r}")
    return host, int(port)


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
