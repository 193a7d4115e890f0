"""Who may sign a partition's log: its origin's parts and the keeper's keys over time.

The log keeper's checkpoints are signed with its agency's signing key(s) from the
agreement; the auditor's book of them is :class:`bus.audit.checkpoints.CheckpointBook`.
"""

from __future__ import annotations

from agencies.history import AgreementHistory
from agencies.keys import KeyAlg, VerifyKey

__all__ = ["log_keys_of", "parse_origin"]


def parse_origin(origin: str) -> tuple[str, int] | None:
    """``silian/<topic>/<partition>`` → (topic, partition); None for another form."""
    prefix, _, rest = origin.partition("/")
    topic, _, partition = rest.rpartition("/")
    if prefix != "silian" or not topic or not partition.isdigit():
        return None
    return topic, int(partition)


def log_keys_of(agreements: AgreementHistory, agency: str) -> list[VerifyKey]:
    """Every Ed25519 signing key the agreement ever declared for ``agency`` (rotation)."""
    keys: dict[str, VerifyKey] = {}
    for version in agreements.versions:
        if not version.is_member(agency):
            continue
        for record in version.member(agency).keys:
            if record.alg is KeyAlg.ED25519:
                keys[record.key_id] = record.verify_key()
    return list(keys.values())
