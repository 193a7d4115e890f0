"""Topic names, derived from the contracts — never typed by hand.

``silian.<federation>.<family>.v<N>`` for alerts, disputes, patrols, liaison and receipts;
``silian.<federation>.case.<case id>`` — one topic per joint case, so membership maps to
Kafka ACLs; plus the agreement, checkpoints and per-agency quarantine topics.

``N`` is the *topic* version of a family (:data:`FAMILY_TOPIC_VERSION`), not the version of
one event type: v1 and v2 of ``alert.issued`` share the alert topic so that the events of
one alert stay in order on one partition during a transition.
"""

from __future__ import annotations

import functools
import re

from contracts.base import Family
from contracts.errors import ContractError

__all__ = [
    "FAMILY_TOPIC_VERSION",
    "TOPIC_PREFIX",
    "agreement_topic",
    "case_topic",
    "checkpoints_topic",
    "family_topic",
    "family_topics",
    "fixed_topics",
    "quarantine_topic",
    "topic_pattern",
]

TOPIC_PREFIX = "silian"

FAMILY_TOPIC_VERSION: dict[Family, int] = {
    Family.ALERT: 1,
    Family.DISPUTE: 1,
    Family.PATROL: 1,
    Family.LIAISON: 1,
    Family.RECEIPT: 1,
}

_FEDERATION = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$")
_AGENCY = re.compile(r"^[0-9]{12}$")


def _fed(federation: str) -> str:
    if not _FEDERATION.fullmatch(federation):
        raise ContractError(
            f"bad federation id {federation!r}: lowercase letters, digits and '-', 2-32 chars"
        )
    return federation


@functools.lru_cache(maxsize=256)  # asked of every record a consumer or auditor decodes
def family_topic(federation: str, family: Family) -> str:
    """The shared topic of a family (not ``case``: each case has its own)."""
    if family is Family.CASE:
        raise ContractError("case events live on one topic per case: use case_topic()")
    return f"{TOPIC_PREFIX}.{_fed(federation)}.{family.value}.v{FAMILY_TOPIC_VERSION[family]}"


def case_topic(federation: str, case_id: str) -> str:
    """The topic of one joint case."""
    if not _CASE_ID.fullmatch(case_id):
        raise ContractError(f"bad case id {case_id!r} for a topic name")
    return f"{TOPIC_PREFIX}.{_fed(federation)}.case.{case_id}"


def agreement_topic(federation: str) -> str:
    """Where versions of the cooperation agreement are published."""
    return f"{TOPIC_PREFIX}.{_fed(federation)}.agreement"


def checkpoints_topic(federation: str) -> str:
    """Where signed Merkle-log checkpoints and cosignatures are published."""
    return f"{TOPIC_PREFIX}.{_fed(federation)}.checkpoints"


def quarantine_topic(federation: str, agency_code: str) -> str:
    """Where an agency's consumers put the records they refused."""
    if not _AGENCY.fullmatch(agency_code):
        raise ContractError(f"bad agency code {agency_code!r}: 12 digits expected")
    return f"{TOPIC_PREFIX}.{_fed(federation)}.quarantine.{agency_code}"


def family_topics(federation: str) -> list[str]:
    """The shared family topics (every family but ``case``), sorted."""
    return sorted(family_topic(federation, family) for family in FAMILY_TOPIC_VERSION)


def fixed_topics(federation: str) -> list[str]:
    """Every topic that exists from day one: family topics, agreement, checkpoints."""
    fixed = [agreement_topic(federation), checkpoints_topic(federation)]
    return sorted([*family_topics(federation), *fixed])


def topic_pattern(family: Family) -> str:
    """The address pattern of a family's topic, with ``{federation}``/``{caseId}``."""
    if family is Family.CASE:
        return f"{TOPIC_PREFIX}.{{federation}}.case.{{caseId}}"
    return f"{TOPIC_PREFIX}.{{federation}}.{family.value}.v{FAMILY_TOPIC_VERSION[family]}"
