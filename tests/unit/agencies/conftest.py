"""Fixtures of the agencies tests: a fixed clock, a key store, a signed agreement, the CLI."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import structlog

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


RunCli = Callable[..., tuple[int, str, str]]
"""``cli("agreement", "verify", ...)`` → (exit code, stdout, stderr)."""


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Iterator[RunCli]:
    # bus.cli re-exports the function main, which shadows the module of the same name.
    cli_main = importlib.import_module("bus.cli.main")

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli_main.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    # main() points logging at this test's captured stderr; undo it for later tests.
    structlog.reset_defaults()
    logging.basicConfig(force=True, handlers=[logging.NullHandler()])
