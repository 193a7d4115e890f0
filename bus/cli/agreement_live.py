"""``silian agreement publish``: put the folder's signed versions on the agreement topic.

Every running service (``serve``, ``watch``) follows that topic and takes a new version up
without a restart, after verifying it (:mod:`bus.node.agreements`); ``serve`` also publishes
the versions of its own folder the topic lacks when it starts.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from agencies import AgreementFolder
from bus.cli._common import ExitCode, add_json_flag, emit_json
from bus.node.agreements import AgreementFeed, folder_versions
from bus.settings import add_bus_arguments, open_transport, settings_from_args
from contracts.topics import agreement_topic

__all__ = ["register_publish"]


def register_publish(a_sub: Any) -> None:
    p = a_sub.add_parser(
        "publish",
        help="put every fully signed version on the agreement topic (running services take it up)",
        description="Put each fully signed version of the agreement folder that the "
        "federation's agreement topic does not hold yet on it. Idempotent. Every running "
        "silian serve and watch verifies and takes up a new version without a restart.",
    )
    add_bus_arguments(p, agency=False)
    add_json_flag(p)
    p.set_defaults(func=_publish)


def _publish(args: argparse.Namespace) -> int:
    settings = settings_from_args(args, agency_required=False)
    history = AgreementFolder(settings.agreement_dir).signed_history()
    federation = history.latest.federation_id

    async def run() -> tuple[list[int], list[str]]:
        transport = open_transport(settings)
        await transport.start()
        try:
            feed = AgreementFeed(
                transport=transport,
                federation=federation,
                agency="operator",
                history=history,
                role="publish",
                keep_refused=False,
            )
            async with feed:
                taken = await feed.catch_up()
                sent = await feed.publish(folder_versions(settings.agreement_dir, history))
            return sent, list(taken.refused)
        finally:
            await transport.stop()

    sent, refused = asyncio.run(run())
    topic = agreement_topic(federation)
    if args.json:
        emit_json(
            {
                "topic": topic,
                "transport": settings.transport_label,
                "published": sent,
                "versions": [v.version for v in history.versions],
                "refused_on_topic": refused,
            }
        )
        return ExitCode.OK
    for version in sent:
        print(f"已发布 published {federation} v{version} → {topic}")
    if not sent:
        print(f"{topic} already holds every version (v1–v{history.latest.version})")
    for why in refused:
        print(f"  注意 the topic also holds a version that does not verify: {why}")
    return ExitCode.OK
