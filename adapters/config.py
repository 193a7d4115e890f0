"""One agency's adapter configuration: a TOML file (see ``adapters/examples/*.toml``).

::

    [agency]
    code = "330881000000"

    [bus]
    keys = "keys"                  # paths are relative to this file
    agreement = "agreement"
    state = "state"                # the adapter keeps <state>/<agency>/adapter.sqlite
    kafka = "127.0.0.1:19092"      # default $SILIAN_KAFKA_BOOTSTRAP; embedded without both
    # embedded = "state/embedded.sqlite"
    # passphrase_env = "MY_KEY_PASSPHRASE"  # default SILIAN_KEY_PASSPHRASE, when it is set
    # provision_topics = true      # create the federation's topics if missing
    # replication = 3              # … with this replication (min.insync = replication - 1)

    [mapping]
    file = "jiangshan.mapping.toml"

    [health]
    # file = "health.json"         # default <state>/<agency>/health.json
    # listen = "127.0.0.1:8710"    # also answer GET /health on loopback

    [local]
    kind = "rest"                  # rest | database | filedrop; the rest is the kind's own
    base_url = "http://127.0.0.1:8081"

Errors name the file and the key.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bus.errors import ConfigError
from bus.settings import listen_address, passphrase_from

__all__ = [
    "LOCAL_KINDS",
    "AgencyConfig",
    "BusSection",
    "HealthSection",
    "LocalSection",
    "load_config",
    "read_toml",
]

LOCAL_KINDS = ("rest", "database", "filedrop")


@dataclass(frozen=True, kw_only=True, slots=True)
class BusSection:
    keys: Path
    agreement: Path
    state: Path
    kafka: str | None
    embedded: Path
    publisher: str = "adapter"
    passphrase_env: str | None = None
    request_timeout_ms: int = 10_000
    retry_max_seconds: float = 15.0
    provision_topics: bool = False
    replication: int = 1

    @property
    def transport_label(self) -> str:
        return f"Kafka {self.kafka}" if self.kafka else f"embedded {self.embedded}"

    def passphrase(self) -> bytes | None:
        """As every command reads it (:func:`bus.settings.passphrase_from`)."""
        return passphrase_from(self.passphrase_env)


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthSection:
    file: Path  # relative to the agency's state folder unless absolute
    listen: tuple[str, int] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalSection:
    """``[local]``: ``kind`` and the kind's own settings, read by its adapter module."""

    kind: str
    settings: dict[str, Any]
    base_dir: Path
    state_dir: Path
    source: str  # "<file> [local]", for error messages

    def path(self, key: str, default: str | None = None) -> Path:
        value = self.settings.get(key, default)
        if not isinstance(value, str) or not value:
            raise ConfigError(f'{self.source}: {key} = "…" (a path) is required')
        return (self.base_dir / value).resolve()

    def text(self, key: str, default: str | None = None) -> str:
        value = self.settings.get(key, default)
        if not isinstance(value, str) or not value:
            raise ConfigError(f'{self.source}: {key} = "…" is required')
        return value

    def number(self, key: str, default: float) -> float:
        value = self.settings.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{self.source}: {key} must be a number ≥ 0")
        return float(value)


@dataclass(frozen=True, kw_only=True, slots=True)
class AgencyConfig:
    path: Path
    agency: str
    bus: BusSection
    mapping: Path
    health: HealthSection
    local: LocalSection
    poll_seconds: float = 1.0

    @property
    def state_dir(self) -> Path:
        """This agency's own state folder: bus store, adapter outbox, health file."""
        return self.bus.state / self.agency

    @property
    def health_file(self) -> Path:
        return self.state_dir / self.health.file

    def with_overrides(
        self, *, kafka: str | None = None, state: Path | None = None
    ) -> AgencyConfig:
        """The same configuration with command-line overrides applied."""
        bus = self.bus
        if kafka:
            bus = replace(bus, kafka=kafka)
        if state is not None:
            bus = replace(bus, state=state.resolve(), embedded=state.resolve() / "embedded.sqlite")
        local = replace(self.local, state_dir=bus.state / self.agency)
        return replace(self, bus=bus, local=local)


def _table(document: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = document.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    return value


def _listen(value: Any, where: str) -> tuple[str, int] | None:
    if value is None:
        return None
    return listen_address(str(value), source=f"{where} [health]", loopback_only=True)


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The TOML document at ``path``; ConfigError naming ``what`` it is if it cannot be."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{what} {path}: cannot be read: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{what} {path}: not valid TOML: {error}") from None


def load_config(path: Path) -> AgencyConfig:
    """Read ``path``; relative paths in it are taken from the file's folder."""
    path = path.resolve()
    document = read_toml(path, "config")
    where = f"config {path}"
    base = path.parent
    agency = str(_table(document, "agency", where).get("code", ""))
    if len(agency) != 12 or not agency.isdigit():
        raise ConfigError(f"{where} [agency]: code must be the 12-digit agency code")
    raw_bus = _table(document, "bus", where)

    def bus_path(key: str, default: str) -> Path:
        return (base / str(raw_bus.get(key, default))).resolve()

    state = bus_path("state", "state")
    kafka = raw_bus.get("kafka") or (
        None if "embedded" in raw_bus else os.environ.get("SILIAN_KAFKA_BOOTSTRAP")
    )
    try:
        bus = BusSection(
            keys=bus_path("keys", "keys"),
            agreement=bus_path("agreement", "agreement"),
            state=state,
            kafka=str(kafka) if kafka else None,
            embedded=(base / str(raw_bus["embedded"])).resolve()
            if "embedded" in raw_bus
            else state / "embedded.sqlite",
            publisher=str(raw_bus.get("publisher", "adapter")),
            passphrase_env=raw_bus.get("passphrase_env"),
            request_timeout_ms=int(raw_bus.get("request_timeout_ms", 10_000)),
            retry_max_seconds=float(raw_bus.get("retry_max_seconds", 15.0)),
            provision_topics=bool(raw_bus.get("provision_topics", False)),
            replication=int(raw_bus.get("replication", 1)),
        )
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where} [bus]: {error}") from None
    raw_mapping = _table(document, "mapping", where)
    if "file" not in raw_mapping:
        raise ConfigError(f'{where} [mapping]: file = "<mapping>.toml" is required')
    raw_local = dict(_table(document, "local", where))
    kind = raw_local.pop("kind", None)
    if kind not in LOCAL_KINDS:
        raise ConfigError(f"{where} [local]: kind must be one of {', '.join(LOCAL_KINDS)}")
    raw_health = _table(document, "health", where)
    state_dir = state / agency
    poll = raw_local.get("poll_seconds", 1.0)
    if isinstance(poll, bool) or not isinstance(poll, int | float) or poll <= 0:
        raise ConfigError(f"{where} [local]: poll_seconds must be a number > 0")
    return AgencyConfig(
        path=path,
        agency=agency,
        bus=bus,
        mapping=(base / str(raw_mapping["file"])).resolve(),
        health=HealthSection(
            file=Path(str(raw_health.get("file", "health.json"))),
            listen=_listen(raw_health.get("listen"), where),
        ),
        local=LocalSection(
            kind=str(kind),
            settings=raw_local,
            base_dir=base,
            state_dir=state_dir,
            source=f"{where} [local]",
        ),
        poll_seconds=float(poll),
    )
