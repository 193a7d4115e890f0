"""Fixtures of the agencies tests: a fixed clock, a key store, a signed agreement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agencies import (
    AgreementSignature,
    KeyStore,
    init_agreement,
    load_template,
    sign_as,
)

CST = timezone(timedelta(hours=8))
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=CST)

JIANGSHAN, PUCHENG, GUANGFENG = "330881000000", "350722000000", "361103000000"
TANSHI, TRIBUNAL, JUDICIAL = "330881510000", "330881610000", "330881620000"


@dataclass(frozen=True, kw_only=True)
class Signed:
    document: bytes
    signatures: tuple[AgreementSignature, ...]
    keystore: KeyStore


@pytest.fixture
def keystore(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys")


def make_signed(federation: str, keystore: KeyStore, now: datetime = T0) -> Signed:
    document, unsigned = init_agreement(load_template(federation), keystore, now)
    signatures = tuple(sign_as(document, signer=code, keystore=keystore) for code in unsigned)
    return Signed(document=document, signatures=signatures, keystore=keystore)


@pytest.fixture
def jpg(keystore: KeyStore) -> Signed:
    return make_signed("jpg", keystore)


@pytest.fixture
def sanshan(keystore: KeyStore) -> Signed:
    return make_signed("sanshan", keystore)
