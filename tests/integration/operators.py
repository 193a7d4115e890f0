"""A federation of its own on Kafka, set up for ``silian`` processes as an operator runs them."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from bus.sandbox.federation import Federation, create_federation


def operator_setup(root: Path, prefix: str, bootstrap: str) -> tuple[Federation, dict[str, str]]:
    """A fresh federation (id ``<prefix>-<random>``, so runs on a shared cluster never mix)
    under ``root``, its agreement written to ``root/agreement``, and the environment its
    processes run in: this one's, without any ``SILIAN_`` setting of the caller's."""
    fed = create_federation(root / "fed", federation_id=f"{prefix}-{uuid.uuid4().hex[:6]}")
    fed.write_agreement(root / "agreement")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SILIAN_")}
    env = {
        **clean,
        "SILIAN_KEY_DIR": str(root / "fed" / "keys"),
        "SILIAN_AGREEMENT_DIR": str(root / "agreement"),
        "SILIAN_STATE_DIR": str(root / "state"),
        "SILIAN_KAFKA_BOOTSTRAP": bootstrap,
    }
    return fed, env
