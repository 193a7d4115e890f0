"""``silian quarantine list | show | retry | release``: what this agency refused, why, again.

Read from the agency's quarantine topic (``silian.<fed>.quarantine.<agency>``), where every
refused record is kept byte for byte with its reason; nothing in it is trusted or acted on.
``retry`` judges records again through the one pipeline, as ``serve`` does by itself when a
new agreement version arrives (:mod:`bus.node.rejudge`): delivered, handled (into the same
effects table ``serve`` keeps) and answered if they pass now, at most once. ``release``
lets one record through on an officer's word, for a reason an officer may waive — a
signed ``receipt.released`` first, then the record handled (:mod:`bus.node.release`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bus.cli._common import ExitCode, add_json_flag, emit_json
from bus.cli.serve import Effects
from bus.cli.timeline import agency_name, directory_of, local_time
from bus.envelope.ids import parse_time
from bus.errors import ConfigError
from bus.node.bus import Bus
from bus.node.quarantine import (
    QUARANTINE_TIME,
    QuarantinedRecord,
    original_record,
    read_quarantine,
    read_quarantine_headers,
)
from bus.node.rejudge import outcome_of, settle
from bus.node.release import RELEASABLE, release
from bus.node.results import Outcome
from bus.reasons import Reason
from bus.settings import add_bus_arguments, open_bus, settings_from_args
from bus.transport.base import Record
from contracts.topics import quarantine_topic

__all__ = ["register"]


def register(sub: Any) -> None:
    top = sub.add_parser(
        "quarantine", help="records this agency refused: list, show, retry, release"
    )
    q_sub = top.add_subparsers(dest="quarantine_command", metavar="ACTION", required=True)
    listing = q_sub.add_parser("list", help="every refused record: when, from whom, why; counts")
    listing.add_argument(
        "--reason",
        action="append",
        default=[],
        choices=[r.value for r in Reason],
        metavar="REASON",
        help="only records refused for this reason (repeatable)",
    )
    show = q_sub.add_parser("show", help="one refused record in full (by its origin)")
    show.add_argument("origin", metavar="TOPIC/PARTITION/OFFSET", help="where it was refused")
    retry = q_sub.add_parser(
        "retry", help="judge refused records again now (after fixing a cause); once each"
    )
    retry.add_argument("origins", nargs="*", metavar="TOPIC/PARTITION/OFFSET")
    retry.add_argument(
        "--curable", action="store_true", help="every record a new agreement version may cure"
    )
    let_go = q_sub.add_parser(
        "release",
        help="let one refused record through on an officer's word: signed, audited, once",
        description=(
            "Release one quarantined record: a signed receipt.released (who, why, which "
            "record) goes to its issuer first, then the record is answered and handled. "
            f"Only a record refused for {', '.join(RELEASABLE)} may be released, and only "
            "if its signature verifies."
        ),
    )
    let_go.add_argument("origin", metavar="TOPIC/PARTITION/OFFSET", help="where it was refused")
    let_go.add_argument(
        "--officer",
        metavar="NAME",
        default=os.environ.get("SILIAN_OFFICER"),
        help="who decides, as the release will name them (default $SILIAN_OFFICER)",
    )
    let_go.add_argument(
        "--because", required=True, metavar="TEXT", help="why: signed into the release"
    )
    for p in (listing, show, retry, let_go):
        add_bus_arguments(p)
        add_json_flag(p)
    listing.set_defaults(func=lambda a: _run(a, _list))
    show.set_defaults(func=lambda a: _run(a, _show))
    retry.set_defaults(func=lambda a: _run(a, _retry))
    let_go.set_defaults(func=lambda a: _run(a, _release))


@dataclass(frozen=True, kw_only=True, slots=True)
class _Kept:
    """One record of the quarantine topic, with what its headers say."""

    copy: Record
    why: QuarantinedRecord

    def summary(self, bus: Bus, settled: dict[str, str]) -> dict[str, object]:
        stamp = dict(self.copy.headers).get(QUARANTINE_TIME)
        at = None if stamp is None else local_time(parse_time(stamp.decode("ascii", "replace")))
        return {
            "origin": self.why.origin,
            "quarantined_at": None if at is None else at.isoformat(),
            "reason": self.why.reason.value,
            "detail": self.why.detail,
            "signer": self.why.signer,
            "signer_name": None
            if self.why.signer is None
            else agency_name(self.why.signer, directory_of(bus)),
            "copy": self.why.copy,
            "curable": self.why.reason.curable,
            "rejudged": settled.get(self.why.origin),
        }


def _run(args: argparse.Namespace, action: Any) -> int:
    settings = settings_from_args(args)

    async def go() -> int:
        async with open_bus(settings, publisher_name="quarantine") as bus:
            return int(await action(args, bus, settings))

    return asyncio.run(go())


async def _kept(bus: Bus) -> list[_Kept]:
    """The agency's quarantine topic, read to its end, in order."""
    kept = []
    for record in await read_quarantine(bus.context.transport, bus.config.federation, bus.agency):
        why = read_quarantine_headers(record)
        if why is not None:  # not written by a consumer: nothing to say about it
            kept.append(_Kept(copy=record, why=why))
    return kept


async def _list(args: argparse.Namespace, bus: Bus, settings: Any) -> int:
    settled = await bus.store.rejudged()
    rows = [k.summary(bus, settled) for k in await _kept(bus)]
    if args.reason:
        rows = [r for r in rows if r["reason"] in args.reason]
    counts = Counter(str(r["reason"]) for r in rows)
    if args.json:
        emit_json({"agency": bus.agency, "records": rows, "by_reason": dict(counts)})
        return ExitCode.OK
    name = agency_name(bus.agency, directory_of(bus))
    if not rows:
        print(f"{name}: 隔离区为空 nothing in quarantine")
        return ExitCode.OK
    for row in rows:
        at = str(row["quarantined_at"] or "?")[:19].replace("T", " ")
        signer = row["signer_name"] or "?"
        after = f"  [re-judged: {row['rejudged']}]" if row["rejudged"] else ""
        print(f"{at}  {row['reason']:<16} {signer}  {row['origin']}{after}")
        print(f"    {row['detail']}")
    total = ", ".join(f"{reason} ×{n}" for reason, n in counts.most_common())
    print(f"{len(rows)} records in quarantine of {name}: {total}")
    return ExitCode.OK


async def _find(bus: Bus, origin: str) -> _Kept:
    found = [k for k in await _kept(bus) if k.why.origin == origin]
    if not found:
        raise ConfigError(
            f"no record from {origin} in the quarantine of {bus.agency} "
            "(silian quarantine list shows what is there)"
        )
    return found[-1]


async def _show(args: argparse.Namespace, bus: Bus, settings: Any) -> int:
    kept = await _find(bus, args.origin)
    summary = kept.summary(bus, await bus.store.rejudged())
    value = kept.copy.value
    headers = {
        name: None if v is None else v.decode("utf-8", "backslashreplace")
        for name, v in kept.copy.headers
        if not name.startswith("silian_q_")
    }
    text = None if value is None else value.decode("utf-8", "backslashreplace")
    detail = {
        **summary,
        "key": None if kept.copy.key is None else kept.copy.key.decode("utf-8", "backslashreplace"),
        "headers": headers,
        "value_bytes": None if value is None else len(value),
        "value_sha256": None if value is None else hashlib.sha256(value).hexdigest(),
        "value": text,
    }
    if args.json:
        emit_json(detail)
        return ExitCode.OK
    for name in ("origin", "quarantined_at", "reason", "detail", "signer_name", "rejudged"):
        print(f"{name:>15}: {detail[name]}")
    print("        headers: (as received — not trusted)")
    for name, v in headers.items():
        print(f"    {name} = {v}")
    print(f"          value: {detail['value_bytes']} bytes, sha256 {detail['value_sha256']}")
    if text is not None:
        print(text)
    return ExitCode.OK


async def _retry(args: argparse.Namespace, bus: Bus, settings: Any) -> int:
    if not args.origins and not args.curable:
        raise ConfigError("which records? name their origins, or pass --curable")
    settled = await bus.store.rejudged()
    kept = await _kept(bus)
    chosen: dict[str, Record] = {}
    wanted = set(args.origins)
    for k in kept:
        if k.why.origin in settled and k.why.origin not in wanted:
            continue
        if k.why.origin in wanted or (args.curable and k.why.reason.curable):
            original = original_record(k.copy)
            if original is not None:
                chosen[k.why.origin] = original
    missing = wanted - {k.why.origin for k in kept}
    if missing:
        raise ConfigError(f"not in the quarantine of {bus.agency}: {', '.join(sorted(missing))}")
    effects = Effects(settings.state_dir / settings.agency / "effects.sqlite", None)
    results = []
    async with effects:
        # Never started: it only judges the records handed to it (no group joins).
        subscription = bus.subscribe(
            group=bus.group_id("quarantine-retry"),
            topics=[quarantine_topic(bus.config.federation, bus.agency)],
        )
        effects.attach(subscription)
        for origin, record in chosen.items():
            result = await subscription.rejudge(record)
            await settle(bus.context, origin, result)
            outcome = outcome_of(result)
            results.append({"origin": origin, "outcome": outcome, "detail": result.detail})
    delivered = sum(1 for r in results if r["outcome"] == Outcome.DELIVERED.value)
    if args.json:
        emit_json({"agency": bus.agency, "retried": results, "delivered": delivered})
    else:
        for r in results:
            print(f"{r['origin']}: {r['outcome']}" + (f" — {r['detail']}" if r["detail"] else ""))
        print(f"{len(results)} judged again, {delivered} delivered")
    return ExitCode.OK if delivered == len(results) else ExitCode.FAILED


async def _release(args: argparse.Namespace, bus: Bus, settings: Any) -> int:
    officer = (args.officer or "").strip()
    if not officer:
        raise ConfigError("who releases it? pass --officer NAME or set SILIAN_OFFICER")
    if not args.because.strip():
        raise ConfigError("why? --because must say it: it is signed into the release")
    kept = await _find(bus, args.origin)
    effects = Effects(settings.state_dir / settings.agency / "effects.sqlite", None)
    async with effects:
        # Never started: it only hands on the record released (no group joins).
        subscription = bus.subscribe(
            group=bus.group_id("quarantine-release"),
            topics=[quarantine_topic(bus.config.federation, bus.agency)],
        )
        effects.attach(subscription)
        done = await release(
            bus.context,
            subscription,
            bus.publisher,
            kept.copy,
            officer=officer,
            justification=args.because.strip(),
        )
    outcome = outcome_of(done.result)
    if args.json:
        emit_json(
            {
                "agency": bus.agency,
                "origin": done.origin,
                "refused_for": done.refused_for.value,
                "source": done.source,
                "event_id": done.event_id,
                "record_hash": done.record_hash,
                "receipt": done.receipt_id,
                "outcome": outcome,
                "detail": done.result.detail,
            }
        )
    else:
        name = agency_name(done.source, directory_of(bus))
        print(
            f"{done.origin}: released ({done.refused_for.value} waived by {officer}); "
            f"event {done.event_id} of {name}: {outcome}"
            + (f" — {done.result.detail}" if done.result.detail else "")
        )
        print(f"signed receipt.released {done.receipt_id} sent to {name}")
    return ExitCode.OK if done.result.outcome is Outcome.DELIVERED else ExitCode.FAILED
