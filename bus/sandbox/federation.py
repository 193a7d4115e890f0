"""Set up a whole federation on one machine: keys for every member, version 1 of the
agreement signed by all. Used by ``silian demo`` and by the tests; a real deployment does
the same steps across agencies with ``silian keys`` and ``silian agreement``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from agencies.folder import AgreementFolder
from agencies.history import AgreementHistory
from agencies.keystore import KeyStore
from agencies.templates import init_agreement, load_template, sign_as
from bus.envelope.ids import now as _now

__all__ = ["Federation", "create_federation"]


@dataclass(frozen=True, kw_only=True)
class Federation:
    federation_id: str
    members: tuple[str, ...]
    keystore: KeyStore
    agreements: AgreementHistory
    document: bytes

    def write_agreement(self, directory: Path) -> AgreementFolder:
        """Version 1 signed by every member, as an agreement folder at ``directory`` (what
        ``silian agreement init`` and each member's ``sign`` leave behind)."""
        folder = AgreementFolder(directory)
        version = folder.write_version(self.document)
        folder.write_signatures(
            version,
            [sign_as(self.document, signer=m, keystore=self.keystore) for m in self.members],
        )
        return folder


def create_federation(
    directory: Path,
    *,
    template: str = "jpg",
    now: datetime | None = None,
    federation_id: str | None = None,
) -> Federation:
    """Fresh keys for every member of ``template`` and its agreement, signed by all.

    ``federation_id`` overrides the template's (a demo run on a shared Kafka gets topics of
    its own that way).
    """
    moment = now or _now()
    # The agreement takes effect a minute back so that records made right away are inside it.
    start = moment - timedelta(minutes=1)
    keystore = KeyStore(directory / "keys")
    chosen = load_template(template)
    if federation_id is not None:
        chosen = chosen.model_validate({**chosen.model_dump(), "federation_id": federation_id})
    document, members = init_agreement(chosen, keystore, start, effective_from=start)
    signatures = [sign_as(document, signer=code, keystore=keystore) for code in members]
    history = AgreementHistory()
    agreement = history.add(document, signatures)
    return Federation(
        federation_id=agreement.federation_id,
        members=members,
        keystore=keystore,
        agreements=history,
        document=document,
    )
