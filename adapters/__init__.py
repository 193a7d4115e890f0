"""Adapters: each agency's own local system (a REST case system, a relational database, a
file-drop folder) on the bus, in both directions (docs/adapters.md).

::

    from adapters import AgencyRunner, load_config

    await AgencyRunner(load_config(Path("jiangshan.toml"))).run(stop)

An adapter of a new kind of local system implements :class:`LocalSystem`: it hands out
:class:`LocalRecord` s, writes :class:`InboundEvent` s, and says what went wrong with the
errors below. The three shipped kinds are built from a config's ``[local]`` section by
:func:`open_local_system` (their modules: :mod:`adapters.rest`, :mod:`adapters.database`,
:mod:`adapters.filedrop`, imported only when used: the database's driver is heavy).
"""

from __future__ import annotations

from adapters.base import (
    DEFAULT_MAX_JSON_DEPTH,
    BadLocalDataError,
    InboundEvent,
    LocalRecord,
    LocalSystem,
    LocalUnavailableError,
)
from adapters.config import LOCAL_KINDS, AgencyConfig, LocalSection, load_config
from adapters.local import open_local_system
from adapters.mapping import Mapping, load_mapping
from adapters.runner import AgencyRunner

__all__ = [
    "DEFAULT_MAX_JSON_DEPTH",
    "LOCAL_KINDS",
    "AgencyConfig",
    "AgencyRunner",
    "BadLocalDataError",
    "InboundEvent",
    "LocalRecord",
    "LocalSection",
    "LocalSystem",
    "LocalUnavailableError",
    "Mapping",
    "load_config",
    "load_mapping",
    "open_local_system",
]
