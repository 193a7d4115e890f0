"""A federation that changes while it runs: three ``silian serve`` processes on the 3-node
Kafka, and no process is restarted.

Guangfeng rotates its key while alerts flow: ``agreement next`` → every member signs →
``agreement publish``; each running service takes v2 up from the agreement topic, Guangfeng's
own service switches to the new key by itself, nothing is quarantined for Guangfeng, nothing
is falsely overdue. Then Pucheng's key is revoked (v3): a record signed with the stolen key
after the revocation is refused by every agency within seconds. Last, Changshan joins as
a fourth member (v4) and exchanges alerts with the others.

And an officer releases a record while the services run: Guangfeng's alert whose chain
predecessor never came is refused by the others (``sequence-gap``); ``silian quarantine
release`` at Jiangshan, beside its running service, hands it on there and Guangfeng's
running service receives the signed ``receipt.released``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agencies import KeyAlg, KeyStore
from bus.envelope.ids import now
from bus.node.topics import TopicPlan
from bus.sandbox.federation import Federation
from bus.transport.kafka import KafkaConfig, KafkaTransport
from contracts import examples
from contracts.alerts import AlertIssued
from tests.integration.bus.craft import craft
from tests.integration.cli.lines import Lines
from tests.integration.operators import operator_setup

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[3]
JS, PC, GF = examples.JIANGSHAN, examples.PUCHENG, examples.GUANGFENG
CS = "330822000000"  # 常山县公安局, the fourth member


def _silian(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "bus.cli.main", *argv],
        env=env, cwd=REPO, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"silian {' '.join(argv)}: {done.stderr[-2000:]}"
    return done


class Service:
    """One agency's ``silian serve``, its JSON log lines read as they come."""

    def __init__(self, env: dict[str, str], agency: str, log: Path, *flags: str) -> None:
        self.agency = agency
        self._log = log.open("w+", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bus.cli.main", "serve", "--agency", agency, *flags],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines = Lines(self.process.stderr)

    def wait(self, event: str, timeout: float = 60, **fields: object) -> dict[str, object]:
        """The next log line of ``event`` whose fields include ``fields``."""
        while True:
            line = json.loads(self.lines.wait_for(f'"{event}"', timeout=timeout))
            if all(line.get(k) == v for k, v in fields.items()):
                return line

    def quarantined(self) -> list[dict[str, object]]:
        return [json.loads(x) for x in self.lines.seen if '"serve.quarantined"' in x]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.lines.join()
        if self.process.stderr is not None:
            self.process.stderr.close()
        self._log.close()


@pytest.fixture
def federation(
    tmp_path: Path, kafka_bootstrap: str
) -> Iterator[tuple[Federation, dict[str, str], dict[str, Service]]]:
    fed, env = operator_setup(tmp_path, "live", kafka_bootstrap)
    _silian(env, "topics", "apply")
    # Jiangshan keeps the federation's Merkle log (checkpoints every 2 s); the others witness.
    keeper = ("--log-keeper", "--checkpoint-interval", "2")
    services = {
        code: Service(env, code, tmp_path / f"{code}.log", *(keeper if code == JS else ()))
        for code in (JS, PC, GF)
    }
    try:
        for service in services.values():
            service.wait("serve.caught_up", timeout=90)
        yield fed, env, services
    finally:
        for service in services.values():
            service.stop()


def _alert(tmp_path: Path, env: dict[str, str], publisher: str, alert_id: str) -> str:
    alert = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    path = tmp_path / f"{alert_id}.json"
    path.write_text(alert.model_copy(update={"alert_id": alert_id}).model_dump_json())
    done = _silian(
        env, "publish", str(path), "--type", "alert.issued", "--json", "--agency", publisher
    )
    return str(json.loads(done.stdout)["event_id"])


def _audit_until_checkpointed(env: dict[str, str], bootstrap: str) -> dict[str, Any]:
    """``silian audit replay`` of everything so far, once a checkpoint the log keeper
    signed after the last record covers it (the keeper checkpoints every 2 s)."""
    deadline = time.monotonic() + 60
    while True:
        audit = subprocess.run(
            [sys.executable, "-m", "bus.cli.main", "audit", "replay", "--bootstrap", bootstrap,
             "--log-keeper", JS, "--json", "--quiet"],
            env=env, cwd=REPO, capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        assert audit.returncode in (0, 1), audit.stderr
        report: dict[str, Any] = json.loads(audit.stdout)
        covered = report["checkpoints_matched"] >= 1 and report["trusted_on_checkpoint"] == 0
        if (report["clean"] and covered) or time.monotonic() > deadline:
            return report


def _next_version(env: dict[str, str], version: int) -> None:
    _silian(env, "agreement", "next")
    for code in (JS, PC, GF):
        _silian(env, "agreement", "sign", "--agency", code)
    _silian(env, "agreement", "publish")
    del version


def test_rotation_and_revocation_while_every_service_runs(
    tmp_path: Path,
    kafka_bootstrap: str,
    federation: tuple[Federation, dict[str, str], dict[str, Service]],
) -> None:
    fed, env, services = federation
    first = _alert(tmp_path, env, JS, "JPG-LIVE-1")
    for code in (PC, GF):
        services[code].wait("serve.delivered", event_id=first)

    # Guangfeng rotates. Its old key signs until v2 is in force, then the new one.
    keys = KeyStore(Path(env["SILIAN_KEY_DIR"]))
    old_key = keys.current(GF, KeyAlg.ED25519, at=now()).key_id
    _silian(env, "keys", "rotate", "--agency", GF)
    new_key = keys.current(GF, KeyAlg.ED25519, at=now()).key_id
    assert new_key != old_key
    # Between the rotation and v2, Guangfeng's service still answers with its old key.
    between = _alert(tmp_path, env, JS, "JPG-LIVE-1B")
    services[GF].wait("serve.delivered", event_id=between)
    services[JS].wait("serve.delivered", ce_type="cn.silian.receipt.handled.v2", source=GF)
    _next_version(env, 2)
    for service in services.values():
        service.wait("agreement.taken_up", version=2)

    # Alerts keep flowing, from Guangfeng with its new key; receipts too.
    second = _alert(tmp_path, env, GF, "JPG-LIVE-2")
    third = _alert(tmp_path, env, JS, "JPG-LIVE-3")
    for code in (JS, PC):
        services[code].wait("serve.delivered", event_id=second)
    services[GF].wait("serve.delivered", event_id=third)
    # Jiangshan's service reads Guangfeng's answers, signed by Guangfeng's running service.
    services[JS].wait("serve.delivered", ce_type="cn.silian.receipt.handled.v2", source=GF)
    status = subprocess.run(
        [sys.executable, "-m", "bus.cli.main", "status", "--json", "--agency", JS],
        env=env, cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stdout + status.stderr  # nothing overdue
    for service in services.values():
        assert service.quarantined() == [], f"{service.agency} quarantined records"
    # The audit of the period is clean: every record, and the checkpoints the log keeper
    # signed across the change of version, judged by v1 and v2 as each was in force.
    report = _audit_until_checkpointed(env, kafka_bootstrap)
    assert report["clean"], report["anomalies"]
    assert report["checkpoints_matched"] >= 1

    # Pucheng's key is stolen: revoked in v3. A record the thief signs afterwards is
    # refused by every agency, while Pucheng itself goes on with its new key.
    stolen = keys.current(PC, KeyAlg.ED25519, at=now())
    _silian(env, "keys", "revoke", "--agency", PC, "--reason", "笔记本被盗 laptop stolen")
    _silian(env, "keys", "new", "--agency", PC)
    _next_version(env, 3)
    for service in services.values():
        service.wait("agreement.taken_up", version=3)
    _send_signed_with(kafka_bootstrap, fed, keys, stolen.key_id)
    for code in (JS, GF):
        refused = services[code].wait("serve.quarantined", reason="key-revoked", timeout=30)
        assert stolen.key_id in str(refused["detail"]), refused
    fourth = _alert(tmp_path, env, PC, "JPG-LIVE-4")
    for code in (JS, GF):
        services[code].wait("serve.delivered", event_id=fourth)

    # Changshan (常山县公安局) joins: its keys are made on its own machine, only the public
    # records travel; the members sign v4 (Changshan too, where its key is); its topics are
    # provisioned; it starts receiving — and no running agency stops.
    cs_keys = tmp_path / "changshan-keys"
    cs_env = {**env, "SILIAN_KEY_DIR": str(cs_keys)}
    _silian(cs_env, "keys", "new", "--agency", CS)
    _silian(cs_env, "keys", "export", "--agency", CS, "--out", str(tmp_path / "cs.keys.json"))
    _silian(env, "keys", "import", str(tmp_path / "cs.keys.json"))
    made = json.loads(_silian(env, "agreement", "next", "--add-member", CS, "--json").stdout)
    assert "常山县公安局 (330822000000): 加入 joins the federation" in made["changes"]
    for code in (JS, PC, GF):
        _silian(env, "agreement", "sign", "--agency", code)
    _silian(cs_env, "agreement", "sign", "--agency", CS)
    _silian(env, "agreement", "publish")
    for service in services.values():
        service.wait("agreement.taken_up", version=4)
    _silian(env, "topics", "apply")
    services[CS] = Service(cs_env, CS, tmp_path / f"{CS}.log")
    services[CS].wait("serve.caught_up", timeout=90)
    fifth = _alert(tmp_path, env, JS, "JPG-LIVE-5")
    for code in (PC, GF, CS):
        services[code].wait("serve.delivered", event_id=fifth)
    sixth = _alert(tmp_path, cs_env, CS, "JPG-LIVE-6")
    for code in (JS, PC, GF):
        services[code].wait("serve.delivered", event_id=sixth)
    services[CS].wait("serve.delivered", ce_type="cn.silian.receipt.handled.v2", source=JS)
    for service in services.values():
        assert service.process.poll() is None  # no process stopped or was restarted


def _send_signed_with(bootstrap: str, fed: Federation, keys: KeyStore, key_id: str) -> None:
    """An alert as Pucheng, signed with ``key_id`` (the stolen key), sent straight to Kafka."""
    alert = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    crafted = craft(
        fed,
        agency=PC,
        event=alert.model_copy(update={"alert_id": "JPG-FORGED-1"}),
        signer=keys.signing_key(key_id),
        key_id=key_id,
        partitions=TopicPlan().family_partitions,
    )

    async def send() -> None:
        async with KafkaTransport(KafkaConfig(bootstrap=bootstrap)) as transport:
            await transport.send(crafted.record)

    asyncio.run(send())


def test_an_officer_releases_a_record_while_every_service_runs(
    kafka_bootstrap: str,
    federation: tuple[Federation, dict[str, str], dict[str, Service]],
) -> None:
    fed, env, services = federation
    alert = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    gap = craft(
        fed,
        agency=GF,
        event=alert.model_copy(update={"alert_id": "JPG-LIVE-GAP"}),
        seq=2,  # seq 1 of this chain never reaches anyone
        partitions=TopicPlan().family_partitions,
    )

    async def send() -> None:
        async with KafkaTransport(KafkaConfig(bootstrap=kafka_bootstrap)) as transport:
            await transport.send(gap.record)

    asyncio.run(send())
    refused = services[JS].wait("serve.quarantined", reason="sequence-gap", timeout=30)
    origin = f"{refused['topic']}/{refused['partition']}/{refused['offset']}"
    released = _silian(
        env, "quarantine", "release", origin, "--agency", JS, "--officer", "指挥中心 李警官",
        "--because", "前序记录经电话核实已作废", "--json",
    )  # fmt: skip
    done = json.loads(released.stdout)
    assert (done["outcome"], done["record_hash"]) == ("delivered", gap.hash)
    # Guangfeng's running service receives the signed release, then Jiangshan's answers.
    services[GF].wait(
        "serve.delivered", ce_type="cn.silian.receipt.released.v1", source=JS, timeout=30
    )
    services[GF].wait("serve.delivered", ce_type="cn.silian.receipt.handled.v2", timeout=30)
    listed = json.loads(_silian(env, "quarantine", "list", "--agency", JS, "--json").stdout)
    assert [r["rejudged"] for r in listed["records"] if r["origin"] == origin] == ["released"]
