"""The file-drop adapter on real folders: atomic takes, encodings, set-aside, inbound files."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pytest

from adapters.base import InboundEvent, LocalUnavailableError
from adapters.config import LocalSection
from adapters.filedrop import FileDropConfig, FileDropSystem
from bus.errors import EventRejectedError

HEADER = "记录类型,纠纷编号,概况\r\n"


def _system(tmp_path: Path, **settings: object) -> FileDropSystem:
    section = LocalSection(
        kind="filedrop",
        settings={"root": "drop", **settings},
        base_dir=tmp_path,
        state_dir=tmp_path / "state",
        source="guangfeng.toml [local]",
    )
    return FileDropSystem(FileDropConfig.from_section(section))


def _export(tmp_path: Path, name: str, text: str, encoding: str, *, marker: bool = True) -> Path:
    path = tmp_path / "drop" / "outbox" / name
    path.write_bytes(text.encode(encoding))
    if marker:
        (path.parent / f"{name}.done").write_bytes(b"")
    return path


async def test_marker_mode_never_reads_a_file_without_its_marker(tmp_path: Path) -> None:
    system = _system(tmp_path)
    await system.start()
    _export(tmp_path, "a.csv", HEADER + "纠纷上报,GF-1,半行", "gbk", marker=False)
    assert await system.fetch_outbound() == []
    (tmp_path / "drop" / "outbox" / "a.csv.done").write_bytes(b"")
    records = await system.fetch_outbound()
    assert [r.fields["纠纷编号"] for r in records] == ["GF-1"]
    assert records[0].where.endswith("a.csv row 2")
    again = await system.fetch_outbound()  # not settled yet: handed out again, the same
    assert [r.local_id for r in again] == [records[0].local_id]
    await system.confirm_outbound(records[0])
    assert await system.fetch_outbound() == []
    assert (tmp_path / "drop" / "archive" / "a.csv").exists()
    assert not (tmp_path / "drop" / "outbox" / "a.csv").exists()
    assert not (tmp_path / "drop" / "outbox" / "a.csv.done").exists()


async def test_stable_mode_waits_until_size_and_mtime_settle(tmp_path: Path) -> None:
    system = _system(tmp_path, ready="stable", settle_seconds=0.3)
    await system.start()
    path = _export(tmp_path, "b.csv", HEADER + "纠纷上报,GF-2,x\r\n", "utf-8", marker=False)
    assert await system.fetch_outbound() == []  # first sighting
    with path.open("ab") as out:  # the legacy system is still writing
        out.write("纠纷上报,GF-3,y\r\n".encode())
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert await system.fetch_outbound() == []  # changed since: the wait starts over
    await asyncio.sleep(0.1)
    assert await system.fetch_outbound() == []  # not settled long enough yet
    await asyncio.sleep(0.4)
    records = await system.fetch_outbound()
    assert [r.fields["纠纷编号"] for r in records] == ["GF-2", "GF-3"]


async def test_temporary_and_hidden_names_are_ignored(tmp_path: Path) -> None:
    system = _system(tmp_path)
    await system.start()
    for name in (".c.csv", "c.csv.tmp", "~c.csv", "c.txt"):
        _export(tmp_path, name, HEADER + "纠纷上报,GF-9,x", "utf-8")
    assert await system.fetch_outbound() == []


@pytest.mark.parametrize("encoding", ["utf-8", "gbk", "utf-8-sig"])
async def test_csv_in_utf8_or_gbk(tmp_path: Path, encoding: str) -> None:
    system = _system(tmp_path)
    await system.start()
    _export(tmp_path, "d.csv", HEADER + "纠纷上报,GF-4,两村山林界址争执\r\n", encoding)
    records = await system.fetch_outbound()
    assert records[0].fields["概况"] == "两村山林界址争执"
    assert records[0].kind == "纠纷上报"


async def test_a_file_no_encoding_reads_is_rejected_with_a_reason(tmp_path: Path) -> None:
    system = _system(tmp_path, encodings=["utf-8"])
    await system.start()
    _export(tmp_path, "e.csv", HEADER + "纠纷上报,GF-5,界址\r\n", "gbk")
    assert await system.fetch_outbound() == []
    rejected = tmp_path / "drop" / "rejected"
    assert (rejected / "e.csv").exists()
    reason = (rejected / "e.csv.reason.txt").read_text(encoding="utf-8")
    assert "e.csv: wrong encoding: not utf-8 (byte 0x" in reason
    assert "offset 0, line 1" in reason  # the header is Chinese too


async def test_ragged_csv_rejects_the_file_naming_the_row(tmp_path: Path) -> None:
    system = _system(tmp_path)
    await system.start()
    _export(tmp_path, "f.csv", HEADER + "纠纷上报,GF-6\r\n", "utf-8")
    assert await system.fetch_outbound() == []
    reason = (tmp_path / "drop" / "rejected" / "f.csv.reason.txt").read_text(encoding="utf-8")
    assert "f.csv row 2: 2 columns, the header has 3" in reason


async def test_xml_with_gbk_declaration_and_without(tmp_path: Path) -> None:
    system = _system(tmp_path)
    await system.start()
    body = (
        "<导出><记录 记录类型='调解'><纠纷编号>GF-7</纠纷编号>"
        "<调解摘要>达成</调解摘要></记录></导出>"
    )
    _export(tmp_path, "g1.xml", '<?xml version="1.0" encoding="GBK"?>' + body, "gbk")
    _export(tmp_path, "g2.xml", body, "gbk")  # no declaration: decoded by the list
    records = await system.fetch_outbound()
    assert [(r.kind, r.fields["纠纷编号"]) for r in records] == [("调解", "GF-7")] * 2
    assert records[0].where.endswith("g1.xml record 1")


async def test_entity_expansion_is_refused(tmp_path: Path) -> None:
    system = _system(tmp_path)
    await system.start()
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x><r><f>&a;</f></r></x>'
    _export(tmp_path, "h.xml", bomb, "utf-8")
    assert await system.fetch_outbound() == []
    assert "refused XML" in (tmp_path / "drop" / "rejected" / "h.xml.reason.txt").read_text(
        encoding="utf-8"
    )


async def test_set_aside_row_keeps_reason_and_archives_the_rest(tmp_path: Path) -> None:
    system = _system(tmp_path)
    await system.start()
    _export(tmp_path, "i.csv", HEADER + "纠纷上报,GF-8,a\r\n纠纷上报,GF-9,b\r\n", "utf-8")
    good, bad = await system.fetch_outbound()
    await system.set_aside(bad, f"{bad.where}: field '纠纷类别': unknown code")
    assert (tmp_path / "drop" / "outbox" / "i.csv").exists()  # a row is still pending
    await system.confirm_outbound(good)
    assert (tmp_path / "drop" / "archive" / "i.csv").exists()
    note = next((tmp_path / "drop" / "rejected").glob("i.csv.*.reason.txt"))
    text = note.read_text(encoding="utf-8")
    assert "unknown code" in text
    assert "GF-9" in text


async def test_a_restart_rereads_an_unfinished_file_with_the_same_ids(tmp_path: Path) -> None:
    system = _system(tmp_path)
    await system.start()
    _export(tmp_path, "j.csv", HEADER + "纠纷上报,GF-10,a\r\n", "utf-8")
    before = await system.fetch_outbound()
    await system.stop()
    again = _system(tmp_path)
    await again.start()
    assert [r.local_id for r in await again.fetch_outbound()] == [r.local_id for r in before]


def _event(event_id: str, **fields: object) -> InboundEvent:
    return InboundEvent(
        event_id=event_id, source="330881000000", ce_type="cn.silian.alert.issued.v1",
        kind="alert", fields=fields,
    )  # fmt: skip


async def test_inbound_xml_in_gbk_atomic_with_marker_and_once(tmp_path: Path) -> None:
    system = _system(tmp_path)
    await system.start()
    event = _event("E-1", 预警编号="JS-1", 预警对象="浙H·12345 白色面包车")
    await system.write_inbound(event)
    inbox = tmp_path / "drop" / "inbox"
    path = inbox / "alert_E-1.xml"
    assert (inbox / "alert_E-1.xml.done").exists()
    assert not list(inbox.glob(".*"))  # no temporary left behind
    raw = path.read_bytes()
    assert raw.startswith(b"<?xml version='1.0' encoding='gbk'?>")
    text = raw.decode("gbk")
    root = SafeET.fromstring(text[text.index("?>") + 2 :])
    assert root.find("预警对象").text == "浙H·12345 白色面包车"  # type: ignore[union-attr]
    path.unlink()  # the legacy system imported it
    await system.stop()
    again = _system(tmp_path)
    await again.start()
    await again.write_inbound(event)  # a redelivery after a restart: not written again
    assert not path.exists()


async def test_inbound_csv_refuses_what_gbk_cannot_hold(tmp_path: Path) -> None:
    system = _system(tmp_path, inbound_format="csv")
    await system.start()
    await system.write_inbound(_event("E-2", 预警编号="JS-2"))
    text = (tmp_path / "drop" / "inbox" / "alert_E-2.csv").read_bytes().decode("gbk")
    assert text.splitlines() == ["记录类型,预警编号", "alert,JS-2"]
    with pytest.raises(EventRejectedError, match="cannot be written in gbk"):
        await system.write_inbound(_event("E-3", 预警编号="JS-3 🚓"))


# -- only files of the outbox (issue 10) ---------------------------------------------------


async def test_a_symbolic_link_in_the_outbox_is_refused_never_followed(tmp_path: Path) -> None:
    """The file drop read whatever a link in its outbox pointed to, anywhere."""
    system = _system(tmp_path)
    await system.start()
    secret = tmp_path / "elsewhere" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text(HEADER + "纠纷上报,GF-SECRET,不该外传\r\n", encoding="utf-8")
    outbox = tmp_path / "drop" / "outbox"
    (outbox / "a-link.csv").symlink_to(secret)
    (outbox / "a-link.csv.done").write_bytes(b"")
    inside = _export(tmp_path, "b.csv", HEADER + "纠纷上报,GF-B,x\r\n", "utf-8", marker=False)
    (outbox / "c-link.csv").symlink_to(inside)  # a link to a file of the outbox: refused too
    (outbox / "c-link.csv.done").write_bytes(b"")
    assert await system.fetch_outbound() == []
    rejected = tmp_path / "drop" / "rejected"
    assert (rejected / "a-link.csv").is_symlink()  # the link moved, its target untouched
    assert secret.read_bytes().endswith("不该外传\r\n".encode())
    assert (rejected / "a-link.csv.reason.txt").read_text(encoding="utf-8") == (
        f"a-link.csv: is a symbolic link (to {secret}); only files in the outbox are read\n"
    )
    assert (rejected / "c-link.csv.reason.txt").exists()
    assert not (outbox / "a-link.csv.done").exists()
    (outbox / "b.csv.done").write_bytes(b"")  # the real file is still taken
    assert [r.fields["纠纷编号"] for r in await system.fetch_outbound()] == ["GF-B"]


async def test_an_outbox_moved_behind_a_link_is_unavailable(tmp_path: Path) -> None:
    system = _system(tmp_path)
    await system.start()
    outbox = tmp_path / "drop" / "outbox"
    outbox.rename(tmp_path / "drop" / "old-outbox")
    (tmp_path / "elsewhere").mkdir()
    outbox.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LocalUnavailableError, match=r"now leads to .*elsewhere, not .*outbox as"):
        await system.fetch_outbound()


# -- bounded memory: checked whole, then handed out a batch at a time (issue 10) -----------


async def test_a_large_export_is_handed_out_in_batches_and_again_until_settled(
    tmp_path: Path,
) -> None:
    system = _system(tmp_path, batch=500)
    await system.start()
    rows = "".join(f"纠纷上报,GF-{n},x\r\n" for n in range(1200))
    _export(tmp_path, "k.csv", HEADER + rows, "gbk")
    _export(tmp_path, "l.csv", HEADER + "纠纷上报,GF-L,y\r\n", "gbk")
    first = await system.fetch_outbound()
    assert [r.fields["纠纷编号"] for r in first] == [f"GF-{n}" for n in range(500)]
    for record in first[:499]:
        await system.confirm_outbound(record)
    assert await system.fetch_outbound() == first[499:]  # not settled: handed out again
    await system.confirm_outbound(first[499])
    second = await system.fetch_outbound()
    assert second[0].where.endswith("k.csv row 502")
    third = await system.fetch_outbound()  # not settled either: the same batch again
    assert third == second
    for record in second:
        await system.confirm_outbound(record)
    last = await system.fetch_outbound()  # k's last 200 rows, then l's one
    assert [r.fields["纠纷编号"] for r in last] == [f"GF-{n}" for n in range(1000, 1200)] + ["GF-L"]
    for record in last:
        await system.confirm_outbound(record)
    archive = tmp_path / "drop" / "archive"
    assert (archive / "k.csv").exists()
    assert (archive / "l.csv").exists()
    assert await system.fetch_outbound() == []


async def test_an_export_is_checked_whole_before_any_row_goes_out(tmp_path: Path) -> None:
    """A bad byte past the first megabyte read: the file is refused before its first row,
    and the reason names the byte and line, counted across the chunks it was read in."""
    system = _system(tmp_path, encodings=["utf-8"])
    await system.start()
    rows = "".join(f"纠纷上报,GF-{n:06d},{'界址' * 20}\r\n" for n in range(15_000))
    raw = (HEADER + rows).encode("utf-8") + "纠纷上报,GF-X,界".encode("gbk") + b"\r\n"
    assert len(raw) > 2 * (1 << 20)
    (tmp_path / "drop" / "outbox" / "m.csv").write_bytes(raw)
    (tmp_path / "drop" / "outbox" / "m.csv.done").write_bytes(b"")
    assert await system.fetch_outbound() == []
    reason = (tmp_path / "drop" / "rejected" / "m.csv.reason.txt").read_text(encoding="utf-8")
    offset = len((HEADER + rows).encode("utf-8"))  # the GBK row's first byte
    assert reason == (
        f"m.csv: wrong encoding: not utf-8 (byte 0x{raw[offset]:02x} at offset {offset}, "
        "line 15002)\n"
    )


async def test_a_dtd_is_refused_even_without_entities(tmp_path: Path) -> None:
    system = _system(tmp_path)
    await system.start()
    _export(tmp_path, "n.xml", '<?xml version="1.0"?><!DOCTYPE x><x><r><f>a</f></r></x>', "utf-8")
    assert await system.fetch_outbound() == []
    reason = (tmp_path / "drop" / "rejected" / "n.xml.reason.txt").read_text(encoding="utf-8")
    assert reason == "n.xml: refused XML: DTDForbidden\n"


async def test_a_large_xml_export_is_read_record_by_record(tmp_path: Path) -> None:
    system = _system(tmp_path, batch=100)
    await system.start()
    body = "".join(
        f"<记录 记录类型='调解'><纠纷编号>GF-{n}</纠纷编号><调解摘要>达成</调解摘要></记录>"
        for n in range(250)
    )
    _export(tmp_path, "o.xml", f'<?xml version="1.0" encoding="GBK"?><导出>{body}</导出>', "gbk")
    seen = []
    while records := await system.fetch_outbound():
        seen += [(r.kind, r.fields["纠纷编号"], r.where.rsplit(" ", 2)[-2:]) for r in records]
        for record in records:
            await system.confirm_outbound(record)
    assert seen == [("调解", f"GF-{n}", ["record", str(n + 1)]) for n in range(250)]
    assert (tmp_path / "drop" / "archive" / "o.xml").exists()


async def test_a_note_that_cannot_be_written_is_unavailable_then_retried(tmp_path: Path) -> None:
    system = _system(tmp_path)
    await system.start()
    _export(tmp_path, "p.csv", HEADER + "纠纷上报,GF-P,x\r\n", "utf-8")
    (record,) = await system.fetch_outbound()
    blocker = tmp_path / "drop" / "rejected" / "p.csv.2.reason.txt"
    blocker.mkdir()  # a folder where the note goes
    (blocker / "x").write_bytes(b"")
    with pytest.raises(LocalUnavailableError) as raised:
        await system.set_aside(record, "unknown code")
    assert str(raised.value) == (
        f"rejected {tmp_path / 'drop' / 'rejected'}: the note p.csv.2.reason.txt cannot be "
        "written: Is a directory"
    )
    (blocker / "x").unlink()
    blocker.rmdir()
    assert await system.fetch_outbound() == [record]  # not settled: handed out again
    await system.set_aside(record, "unknown code")
    assert blocker.read_text(encoding="utf-8").startswith("unknown code\n")
    assert (tmp_path / "drop" / "archive" / "p.csv").exists()


async def test_an_inbound_file_is_never_written_through_a_planted_link(tmp_path: Path) -> None:
    """The temporary name in the inbox, a folder the legacy system writes too, was opened
    following links: a link planted there had the event written wherever it pointed."""
    system = _system(tmp_path)
    await system.start()
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched", encoding="utf-8")
    inbox = tmp_path / "drop" / "inbox"
    (inbox / ".alert_E-9.xml.tmp").symlink_to(victim)
    await system.write_inbound(_event("E-9", 预警编号="JS-9"))
    assert victim.read_text(encoding="utf-8") == "untouched"
    assert b"JS-9" in (inbox / "alert_E-9.xml").read_bytes()
    assert not (inbox / ".alert_E-9.xml.tmp").exists()
