"""Files for a legacy system: written so that a reader never sees half of one (a crash
leaves the old one), and an inbound event as the import file it reads."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import xml.etree.ElementTree as ET  # only to build files; parsing uses defusedxml
from pathlib import Path

from adapters.base import InboundEvent
from bus.errors import EventRejectedError

__all__ = ["import_file", "write_atomic"]


def write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: readers see nothing or the whole file.

    The temporary name is made afresh and never followed: a link left there (in a folder
    another system writes too, such as the file drop's inbox) is replaced, not written
    through.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    with os.fdopen(os.open(temporary, flags, 0o666), "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def import_file(event: InboundEvent, *, fmt: str, encoding: str, kind_field: str) -> bytes:
    """``event`` as one import file: an XML ``<记录>`` of its fields or a two-row CSV, in
    the legacy system's ``encoding``; a field it cannot hold refuses the event."""
    fields = {k: "" if v is None else str(v) for k, v in event.fields.items()}
    if fmt == "xml":
        element = ET.Element("记录", {kind_field: event.kind, "事件编号": event.event_id})
        for key, value in fields.items():
            try:
                ET.SubElement(element, key).text = value
            except ValueError as error:
                raise EventRejectedError(f"field {key!r}: {error}") from None
        data: bytes = ET.tostring(element, encoding=encoding, xml_declaration=True)
        return data
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([kind_field, *fields])
    writer.writerow([event.kind, *fields.values()])
    try:
        return out.getvalue().encode(encoding)
    except UnicodeEncodeError as error:
        raise EventRejectedError(
            f"{error.object[error.start : error.end]!r} cannot be written in "
            f"{encoding}, the legacy system's encoding"
        ) from None
