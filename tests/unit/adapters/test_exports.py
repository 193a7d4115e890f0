"""Reading one export: opened only as a regular file, never through a link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters._exports import BadExportError, Export, open_regular


def test_a_link_swapped_in_after_the_listing_is_not_opened(tmp_path: Path) -> None:
    target = tmp_path / "target.csv"
    target.write_text("记录类型\r\n", encoding="utf-8")
    link = tmp_path / "swapped.csv"
    link.symlink_to(target)
    with pytest.raises(BadExportError, match=r"^swapped.csv: is a symbolic link; not followed$"):
        open_regular(link)
    with pytest.raises(BadExportError, match="is a symbolic link"):
        Export.open(link, encodings=("utf-8",), kind_field="记录类型")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    with pytest.raises(BadExportError, match=r"^fifo.csv: is not a regular file$"):
        open_regular(fifo)


def test_the_digest_is_of_the_whole_file_whichever_encoding_reads_it(tmp_path: Path) -> None:
    """The local ids name the export by its digest: the same as when it was read whole."""
    import hashlib  # noqa: PLC0415

    path = tmp_path / "gbk.csv"
    raw = "记录类型,纠纷编号\r\n纠纷上报,GF-1\r\n".encode("gbk")
    path.write_bytes(raw)
    export = Export.open(path, encodings=("utf-8", "gbk"), kind_field="记录类型")
    assert export.encoding == "gbk"  # UTF-8 failed at the first byte
    assert export.digest == hashlib.sha256(raw).hexdigest()[:12]
    assert [(r.number, r.kind, r.fields["纠纷编号"]) for r in export.rows()] == [
        (2, "纠纷上报", "GF-1")
    ]


def test_an_unknown_declared_encoding_is_named(tmp_path: Path) -> None:
    path = tmp_path / "x.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="NO-SUCH"?><x/>')
    with pytest.raises(BadExportError, match=r"^x.xml: wrong encoding: declared NO-SUCH, unknown$"):
        Export.open(path, encodings=("utf-8",), kind_field="k")
