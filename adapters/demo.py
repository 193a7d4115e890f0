"""``silian agency demo``: the three agencies' adapters at work on their reference systems.

Jiangshan's case system (REST), Pucheng's database and Guangfeng's file-drop folders are
started from ``adapters/reference`` and ``adapters/examples``; three adapters run against
them on one bus (embedded by default, Kafka with ``--kafka``). An officer enters an alert
through Jiangshan's API — it appears in Pucheng's database and in Guangfeng's inbox
folder; Pucheng's officer enters a hit — it reaches Jiangshan's system; Guangfeng's legacy
system exports a settled dispute in GBK — it reaches the other two; then the link goes
down, Jiangshan keeps entering alerts, they wait in its outbox and drain in order when the
link returns; a bad export row is set aside with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.config import AgencyConfig, load_config
from adapters.reference import pucheng_app
from adapters.reference.rest_case_system import RestCaseSystem
from adapters.runner import AgencyRunner
from agencies.folder import AgreementFolder
from bus.envelope.ids import now
from bus.errors import TransportError
from bus.node.topics import TopicPlan, plan_topics
from bus.sandbox.federation import create_federation
from bus.transport import connect
from bus.transport.base import (
    Consumer,
    Coordinates,
    OutgoingRecord,
    Record,
    TopicChanges,
    TopicDescription,
    TopicSpec,
    Transport,
)

__all__ = [
    "EXAMPLES",
    "LinkSwitch",
    "guangfeng_export",
    "prepare_agencies",
    "run_adapter_demo",
    "wait_for",
    "write_federation",
]

EXAMPLES = Path(__file__).parent / "examples"
AGENCIES = {"jiangshan": "330881000000", "pucheng": "350722000000", "guangfeng": "361103000000"}


def write_federation(directory: Path, *, federation_id: str | None = None) -> str:
    """Keys for every member and agreement v1 signed by all, in ``directory/keys`` and
    ``directory/agreement`` (what ``silian keys``/``silian agreement`` do across agencies)."""
    fed = create_federation(
        directory, now=now().replace(microsecond=0), federation_id=federation_id
    )
    fed.write_agreement(directory / "agreement")
    return fed.federation_id


def prepare_agencies(directory: Path, *, rest_url: str, federation_id: str | None = None) -> str:
    """Copy the example configs into ``directory`` pointed at ``rest_url``, make the
    federation, Pucheng's database and Guangfeng's folders. Returns the federation id."""
    directory.mkdir(parents=True, exist_ok=True)
    for source in EXAMPLES.glob("*.toml"):
        text = source.read_text(encoding="utf-8")
        text = text.replace('base_url = "http://127.0.0.1:8081"', f'base_url = "{rest_url}"')
        (directory / source.name).write_text(text, encoding="utf-8")
    federation = write_federation(directory, federation_id=federation_id)
    connection = pucheng_app.connect(f"sqlite:///{directory / 'pucheng.db'}")
    pucheng_app.create_schema(connection)
    connection.close()
    for name in ("outbox", "inbox", "archive", "rejected"):
        (directory / "guangfeng" / name).mkdir(parents=True, exist_ok=True)
    return federation


class LinkSwitch(Transport):
    """A transport that cannot reach the broker while ``down`` — a cut cross-province link,
    for the demo (the Kafka test stops real brokers instead): sends and commits fail,
    fetches find nothing."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.down = False

    async def guard(self, action: str) -> None:
        """Before ``action`` needs the broker: fail while the link is down."""
        if self.down:
            raise TransportError(f"{action} failed: the link is down")

    def fetched(self, records: list[Record]) -> list[Record]:
        """What a fetch returned (a subclass may cut the link right after one)."""
        return records

    async def start(self) -> None:
        await self.guard("connecting")
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def send(self, record: OutgoingRecord) -> Coordinates:
        await self.guard(f"send to topic {record.topic!r}")
        return await self.inner.send(record)

    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> TopicChanges:
        await self.guard("ensuring topics")
        return await self.inner.ensure_topics(specs)

    async def describe_topics(self, names: Iterable[str]) -> dict[str, TopicDescription]:
        await self.guard("describing topics")
        return await self.inner.describe_topics(names)

    def consumer(
        self,
        *,
        group_id: str,
        topics: Iterable[str],
        pattern: str | None = None,
        from_beginning: bool = True,
    ) -> Consumer:
        inner = self.inner.consumer(
            group_id=group_id, topics=topics, pattern=pattern, from_beginning=from_beginning
        )
        return _SwitchedConsumer(inner, self)


class _SwitchedConsumer(Consumer):
    def __init__(self, inner: Consumer, link: LinkSwitch) -> None:
        self._inner = inner
        self._link = link

    async def start(self) -> None:
        await self._link.guard("starting a consumer")
        await self._inner.start()

    async def stop(self) -> None:
        await self._inner.stop()

    async def fetch(self, *, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        if self._link.down:
            await asyncio.sleep(timeout)
            return []
        return self._link.fetched(await self._inner.fetch(max_records=max_records, timeout=timeout))

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        await self._link.guard("committing offsets")
        await self._inner.commit(offsets)

    async def seek_to_beginning(self) -> None:
        await self._inner.seek_to_beginning()

    async def seek(self, positions: Mapping[tuple[str, int], int]) -> None:
        await self._inner.seek(positions)

    def assignment(self) -> frozenset[tuple[str, int]]:
        return self._inner.assignment()

    async def lag(self) -> dict[tuple[str, int], int]:
        await self._link.guard("measuring the lag")
        return await self._inner.lag()


async def wait_for(
    check: Callable[[], Awaitable[Any]] | Callable[[], Any], *, timeout: float = 60.0
) -> Any:
    """Poll ``check`` until it returns something truthy; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f}s for {getattr(check, '__name__', check)}")
        await asyncio.sleep(0.2)


_ALERT = {
    "subject_type": "车辆", "plate": "浙H·12345",
    "subject_description": "白色面包车，车身左侧有刮痕",
    "reason": "涉嫌跨省电信诈骗取款车辆", "markers": "逃跑风险",
    "action_on_hit": "发现后跟踪并立即通报江山", "priority": "特急",
    "area": "330881,350722,361103", "review_at": "2030-05-13 09:00",
}  # fmt: skip


@dataclass
class _Scene:
    work: Path
    rest: RestCaseSystem
    configs: dict[str, AgencyConfig]
    runners: dict[str, AgencyRunner] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def _agencies(
    work: Path, transport: Transport, federation_id: str | None
) -> AsyncIterator[_Scene]:
    rest = RestCaseSystem().start()
    try:
        prepare_agencies(work, rest_url=rest.url, federation_id=federation_id)
        configs = {name: load_config(work / f"{name}.toml") for name in AGENCIES}
        scene = _Scene(work=work, rest=rest, configs=configs)
        first = configs["jiangshan"]
        await transport.start()
        history = AgreementFolder(first.bus.agreement).history()
        await transport.ensure_topics(
            plan_topics(history.latest.federation_id, history.latest, TopicPlan())
        )
        stop = asyncio.Event()
        scene.runners = {n: AgencyRunner(c, transport=transport) for n, c in configs.items()}
        tasks = [asyncio.create_task(r.run(stop)) for r in scene.runners.values()]
        try:
            yield scene
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await transport.stop()
    finally:
        rest.stop()


def guangfeng_export(folder: Path, name: str, rows: list[list[str]]) -> None:
    """What the legacy system does: write the CSV in GBK, then the ``.done`` marker."""
    header = [
        "记录类型",
        "纠纷编号",
        "纠纷类别",
        "甲方",
        "甲方区划",
        "甲方身份",
        "乙方",
        "乙方区划",
        "乙方身份",
        "地点区划",
        "地点",
        "概况",
        "调解编号",
        "调解时间",
        "调解结果",
        "调解摘要",
        "协议内容",
        "协议扫描件SHA256",
        "申请司法确认",
        "签订时间",
    ]
    lines = [",".join(header)] + [",".join(r + [""] * (len(header) - len(r))) for r in rows]
    (folder / name).write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    (folder / f"{name}.done").write_bytes(b"")


async def run_adapter_demo(
    *, kafka: str | None = None, directory: Path | None = None, emit: Callable[[str], None] = print
) -> dict[str, Any]:
    """Play the scenario; returns what each local system ended up holding."""
    with contextlib.ExitStack() as stack:
        work = directory or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="silian-agency-demo-"))
        )
        inner = connect(
            kafka, embedded=work / "state" / "embedded.sqlite", client_id="silian-agency-demo"
        )
        link = LinkSwitch(inner)
        # on a shared Kafka, topics of its own
        federation = f"jpg-demo-{uuid.uuid4().hex[:6]}" if kafka else None
        async with _agencies(work, link, federation) as scene:
            return await _play(scene, link, emit)
    raise AssertionError("unreachable")  # pragma: no cover


async def _play(scene: _Scene, link: LinkSwitch, emit: Callable[[str], None]) -> dict[str, Any]:
    work, rest = scene.work, scene.rest
    db = pucheng_app.connect(f"sqlite:///{work / 'pucheng.db'}")
    inbox, outbox = work / "guangfeng" / "inbox", work / "guangfeng" / "outbox"
    alert = f"JS-ALERT-{uuid.uuid4().hex[:6].upper()}"
    emit(f"四联 adapters demo in {work}")
    emit(f"① 江山 officer enters alert {alert} through the case system's API ({rest.url})")
    rest.create("alert", {**_ALERT, "alert_no": alert})
    row = await wait_for(lambda: db.execute(
        "SELECT alert_id, division, priority FROM alerts_received WHERE alert_id = ?", (alert,)
    ).fetchone())  # fmt: skip
    emit(f"   → 浦城 database alerts_received: {tuple(row)}")
    files = await wait_for(lambda: sorted(p.name for p in inbox.glob("alert_*.xml")))
    emit(f"   → 广丰 inbox folder: {files[0]} (GBK XML)")
    emit("② 浦城 officer enters a hit in the database (outbox row in the same transaction)")
    pucheng_app.record_hit(db, alert_id=alert, seen_at="2030-05-06 14:30:00",
                           place="G205国道浦城收费站", action_taken="已跟踪，通报江山",
                           officer="林警官")  # fmt: skip
    hit = await wait_for(lambda: rest.records("hit"))
    emit(f"   → 江山 case system: hit {hit[0]['data']['hit_no']} at {hit[0]['data']['place']}")
    emit("③ 广丰 legacy system exports a dispute (reported, mediated, settled) as GBK CSV")
    dispute = f"GF-DSP-{uuid.uuid4().hex[:6].upper()}"
    guangfeng_export(outbox, f"20300506-0900-{dispute}.csv", [
        ["纠纷上报", dispute, "山林", "张三", "361103", "村民", "李四", "330881", "村民", "361103",
         "广丰—江山交界处山林", "两村村民因山林界址发生争执"],
        ["调解", dispute, "", "", "", "", "", "", "", "", "", "", "M-1", "2030-05-06 10:00",
         "达成协议", "双方同意按1985年界址图划界"],
        ["调解协议", dispute] + [""] * 14 + ["按1985年界址图划界，双方互不追究", "a" * 64, "否",
                                          "2030-05-06 11:00"],
    ])  # fmt: skip
    await wait_for(lambda: rest.records("dispute_settled"))
    emit(f"   → 江山 case system: dispute_settled {dispute}")
    await wait_for(lambda: db.execute("SELECT 1 FROM disputes WHERE dispute_id = ?",
                                      (dispute,)).fetchone())  # fmt: skip
    emit(f"   → 浦城 database disputes: {dispute}")
    emit("④ the link to the bus goes down; 江山 enters two more alerts meanwhile")
    link.down = True
    later = [f"{alert}-{n}" for n in (1, 2)]
    for alert_id in later:
        rest.create("alert", {
            "alert_no": alert_id, "subject_type": "人员", "person_name": "王五",
            "person_name_en": "Wang Wu", "subject_description": "男，约30岁",
            "reason": "网上在逃人员", "action_on_hit": "控制并通报", "priority": "一般",
            "area": "330881,350722", "review_at": "2030-06-01 09:00",
        })  # fmt: skip
    jiangshan = scene.runners["jiangshan"]
    pending = await wait_for(lambda: _pending(jiangshan, 2))
    report = await wait_for(lambda: _degraded(jiangshan))
    status, error = report["status"], report["bus"]["error"]
    emit(f"   → 江山 outbox holds {pending} events; health {status}: {error}")
    link.down = False
    emit("⑤ the link returns: the outbox drains in order")
    await wait_for(lambda: len(db.execute(
        "SELECT 1 FROM alerts_received WHERE alert_id LIKE ?", (f"{alert}-%",)
    ).fetchall()) == 2)  # fmt: skip
    emit(f"   → 浦城 database has {', '.join(later)}")
    return await _play_refusals(scene, db, alert=alert, dispute=dispute, emit=emit)


async def _play_refusals(
    scene: _Scene, db: Any, *, alert: str, dispute: str, emit: Callable[[str], None]
) -> dict[str, Any]:
    work, rest, outbox = scene.work, scene.rest, scene.work / "guangfeng" / "outbox"
    jiangshan = scene.runners["jiangshan"]
    emit("⑥ 广丰 exports a row with an unknown dispute category")
    guangfeng_export(outbox, f"20300506-1000-{dispute}-bad.csv", [
        ["纠纷上报", f"{dispute}-X", "宅基地", "赵六", "361103", "村民"],
    ])  # fmt: skip
    rejected = work / "guangfeng" / "rejected"
    reasons = await wait_for(lambda: sorted(rejected.glob("*.reason.txt")))
    first_line = reasons[0].read_text(encoding="utf-8").splitlines()[0]
    emit(f"   → set aside: {reasons[0].name}: {first_line}")
    emit("⑦ 江山 issues an alert for 江山 and 广丰 only: 浦城's database refuses it")
    outside = f"{alert}-X"
    rest.create("alert", {**_ALERT, "alert_no": outside, "area": "330881,361103"})
    refusal = await wait_for(lambda: _rejection(jiangshan, outside))
    emit(f"   → 江山 holds a signed receipt.rejected from 浦城: {refusal}")
    summary: dict[str, Any] = {"rejected": refusal}
    for name, runner in scene.runners.items():
        report = await runner.health()
        summary[name] = report
        emit(
            f"   {name}: {report['published']} published, inbound {report['inbound']}, "
            f"{report['set_aside']} set aside, bus connected={report['bus']['connected']}"
        )
    db.close()
    return summary


async def _pending(runner: AgencyRunner, at_least: int) -> int:
    count = int((await runner.state.counts())["outbox_pending"])
    return count if count >= at_least else 0


async def _degraded(runner: AgencyRunner) -> dict[str, Any] | None:
    report = await runner.health()
    return report if report["status"] != "ok" else None


async def _rejection(runner: AgencyRunner, alert_id: str) -> str | None:
    for receipt in await runner.bus.store.receipts():
        if receipt.subject == alert_id and receipt.rejected:
            return f"{receipt.recipient}: {receipt.rejected}"
    return None
