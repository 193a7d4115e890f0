"""Build the adapter of an agency's kind of local system from its ``[local]`` section."""

from __future__ import annotations

from adapters.base import LocalSystem
from adapters.config import LocalSection
from bus.errors import ConfigError

__all__ = ["open_local_system"]


def open_local_system(section: LocalSection) -> LocalSystem:
    """The :class:`LocalSystem` for ``[local] kind = "rest" | "database" | "filedrop"``."""
    if section.kind == "rest":
        from adapters.rest import RestConfig, RestSystem  # noqa: PLC0415 - only what is used

        return RestSystem(RestConfig.from_section(section))
    if section.kind == "filedrop":
        from adapters.filedrop import FileDropConfig, FileDropSystem  # noqa: PLC0415

        return FileDropSystem(FileDropConfig.from_section(section))
    if section.kind == "database":
        return _database(section)
    raise ConfigError(f"{section.source}: unknown kind {section.kind!r}")


def _database(section: LocalSection) -> LocalSystem:
    from adapters.database import DatabaseConfig, DatabaseSystem  # noqa: PLC0415 - needs psycopg

    config = DatabaseConfig.from_section(
        section.settings, base_dir=section.base_dir, source=section.source
    )
    return DatabaseSystem(config)
