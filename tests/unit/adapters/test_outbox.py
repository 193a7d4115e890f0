"""The adapter's durable state: outbox order, dedup by local id, inbox, survival of restarts."""

from __future__ import annotations

from pathlib import Path

from adapters.outbox import AdapterState, Held, Known


async def test_outbox_keeps_order_dedups_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "adapter.sqlite"
    state = await AdapterState(path).open()
    for n in range(3):
        added = await state.add(
            local_id=f"r{n}", kind="alert", origin=f"row {n}", ce_type="t", entity="A",
            data=b"{}",
        )  # fmt: skip
        assert added
    assert not await state.add(
        local_id="r1", kind="alert", origin="row 1", ce_type="t", entity="A", data=b"{}"
    )
    first = (await state.pending())[0]
    await state.published(first.position, event_id="e0", where="topic/0/0")
    await state.close()

    state = await AdapterState(path).open()  # a restart: what was pending still is
    assert [e.local_id for e in await state.pending()] == ["r1", "r2"]
    assert await state.knows("r0") == Known(held=Held.STORED)
    assert await state.knows("never-seen") is None
    await state.failed((await state.pending())[0].position, "lifecycle: nope")
    await state.set_aside(local_id="bad", origin="row 9", reason="unknown code")
    # set aside is not stored: a record handed over again is set aside again, with why
    assert await state.knows("bad") == Known(held=Held.SET_ASIDE, reason="unknown code")
    counts = await state.counts()
    assert counts["outbox_pending"] == 1
    assert counts["published"] == 1
    assert counts["publish_failed"] == 1
    assert counts["set_aside"] == 1
    await state.close()


async def test_inbox_records_each_event_once(tmp_path: Path) -> None:
    state = await AdapterState(tmp_path / "a.sqlite").open()
    assert await state.inbox_outcome("330881000000", "E1") is None
    for outcome in ("applied", "rejected"):  # the first outcome stands
        await state.note_inbox(
            source="330881000000", event_id="E1", ce_type="t", outcome=outcome, detail=None
        )
    assert await state.inbox_outcome("330881000000", "E1") == ("applied", None)
    assert (await state.counts())["inbound"] == {"applied": 1}
    await state.close()
