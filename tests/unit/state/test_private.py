"""An agency's state is private whatever the umask: folders 0700, files 0600 (SQLite's
-wal/-shm too), and state left open to others by an earlier silian is refused at start."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.health import write_report
from adapters.outbox import AdapterState
from agencies.keys import KeyAlg
from agencies.keystore import KeyStore
from bus.audit.bundle import BundleWriter
from bus.cli.serve import Effects
from bus.errors import ConfigError
from bus.sandbox.federation import create_federation
from bus.state.private import (
    open_private,
    private_database,
    private_file,
    private_folder,
    private_parents,
    write_private,
)
from bus.state.store import LocalStore
from bus.tlog.checkpoint import NoteSigner
from bus.tlog.log import MerkleLog
from bus.tlog.witness import Witness
from bus.transport.embedded import EmbeddedTransport

# 0o022 is the usual default, 0o000 the most permissive; 0o277 would take the owner's own
# write and search bits, which the explicit modes must give back.
UMASKS = (0o022, 0o000, 0o277)


@pytest.fixture(params=UMASKS, ids=lambda m: f"umask{m:03o}")
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    before = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private_tree(root: Path) -> list[Path]:
    """Every folder under ``root`` (itself included) is 0700 and every file 0600."""
    found = [root, *root.rglob("*")]
    modes = {p.relative_to(root).as_posix(): f"{mode(p):04o}" for p in found}
    wanted = {p.relative_to(root).as_posix(): "0700" if p.is_dir() else "0600" for p in found}
    assert modes == wanted
    return found


# -- the mechanism --------------------------------------------------------------------------


def test_folders_and_files_are_made_private(tmp_path: Path, umask: int) -> None:
    folder = private_folder(tmp_path / "state" / "agency")
    assert mode(tmp_path / "state") == 0o700  # a missing parent too, not the umask's mode
    assert mode(folder) == 0o700
    assert mode(private_file(folder / "a.sqlite")) == 0o600
    with open_private(folder / "log.jsonl", "a") as out:
        out.write("line\n")
    assert mode(folder / "log.jsonl") == 0o600
    write_private(folder / "report.json", "{}\n")
    assert mode(folder / "report.json") == 0o600
    assert (folder / "report.json").read_text("utf-8") == "{}\n"
    private_parents(tmp_path / "new" / "deeper" / "file")
    assert mode(tmp_path / "new") == mode(tmp_path / "new" / "deeper") == 0o700
    assert_private_tree(tmp_path / "state")


def test_an_open_folder_is_refused_naming_path_mode_and_fix(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    folder.chmod(0o755)
    with pytest.raises(ConfigError) as refused:
        private_folder(folder)
    assert str(refused.value) == (
        f"state folder {folder} is open to group or others (mode 0755); refusing to use it. "
        f"Find out who could read it, then run: chmod -R go= {folder}"
    )
    assert mode(folder) == 0o755  # refused, not repaired


def test_an_open_file_is_refused_naming_path_mode_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    path.write_bytes(b"")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=rf"\(mode 0644\).*run: chmod 600 {path}$"):
        private_file(path)
    with pytest.raises(ConfigError, match="mode 0644"):
        open_private(path, "a")
    assert mode(path) == 0o644


def test_an_open_wal_beside_a_private_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    private_database(path)
    wal = tmp_path / "a.sqlite-wal"
    wal.write_bytes(b"")
    wal.chmod(0o640)
    with pytest.raises(ConfigError, match=rf"state file {wal} .*mode 0640"):
        private_database(path)


def test_a_state_folder_that_is_a_file_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("", "utf-8")
    with pytest.raises(ConfigError, match="is not a folder"):
        private_folder(tmp_path / "state")


def test_an_output_replaced_whole_is_tightened_not_refused(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "bundle.jsonl"
    path.write_text("old content\n", "utf-8")
    path.chmod(0o644)
    with open_private(path, "w") as out:
        out.write("new\n")
    assert mode(path) == 0o600
    assert path.read_text("utf-8") == "new\n"


# -- every module that keeps state ----------------------------------------------------------


async def test_the_local_store_and_its_wal_are_private(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "state" / "330000000000" / "330000000000.sqlite"
    async with LocalStore(path):
        # SQLite made its -wal and -shm beside the file: they take its mode.
        assert {p.name for p in path.parent.iterdir()} >= {path.name, f"{path.name}-wal"}
        assert_private_tree(tmp_path / "state")


async def test_an_open_local_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agency" / "store.sqlite"
    async with LocalStore(path):
        pass
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=rf"state file {path} .*\(mode 0644\)"):
        await LocalStore(path).open()
    path.chmod(0o600)
    path.parent.chmod(0o755)
    with pytest.raises(ConfigError, match=rf"state folder {path.parent} .*\(mode 0755\)"):
        await LocalStore(path).open()


async def test_serve_effects_are_private(tmp_path: Path, umask: int) -> None:
    state = tmp_path / "state"
    async with Effects(state / "agency" / "effects.sqlite", state / "agency" / "handled.jsonl"):
        assert_private_tree(state)  # the handle log's lines: tests/integration/cli


def test_the_merkle_log_and_the_witness_state_are_private(tmp_path: Path, umask: int) -> None:
    fed = create_federation(tmp_path / "fed")
    record = fed.keystore.current(fed.members[0], KeyAlg.ED25519, at=datetime.now(UTC))
    key = fed.keystore.signing_key(record.key_id)
    state = private_folder(tmp_path / "state")
    with MerkleLog(state / "merkle.sqlite", "silian/t/0") as merkle:
        merkle.append([b"\x01" * 32])
        note = NoteSigner(merkle.origin, key).sign_checkpoint(merkle.checkpoint()).to_bytes()
        assert_private_tree(state)  # with SQLite's -wal and -shm
    path = state / "witness-k.json"
    witness = Witness(name="w", key=key, log_keys=[key.public_key], state_path=path)
    witness.cosign(note, [], timestamp=1)
    assert {p.name for p in state.iterdir()} == {"merkle.sqlite", "witness-k.json"}
    assert_private_tree(state)

    assert MerkleLog.origins(state / "merkle.sqlite") == ["silian/t/0"]
    (state / "merkle.sqlite").chmod(0o644)
    with pytest.raises(ConfigError, match=r"merkle\.sqlite is open .*\(mode 0644\)"):
        MerkleLog.origins(state / "merkle.sqlite")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"witness-k\.json is open .*chmod 600"):
        Witness(name="w", key=key, log_keys=[key.public_key], state_path=path)


async def test_the_adapter_state_and_health_are_private(tmp_path: Path, umask: int) -> None:
    state = tmp_path / "state" / "330000000000"
    adapter = await AdapterState(state / "adapter.sqlite").open()
    try:
        write_report(state / "health.json", {"ok": True})
        assert_private_tree(tmp_path / "state")
    finally:
        await adapter.close()


async def test_the_embedded_transport_file_is_private(tmp_path: Path, umask: int) -> None:
    transport = EmbeddedTransport(tmp_path / "state" / "embedded.sqlite")
    await transport.start()
    try:
        assert_private_tree(tmp_path / "state")
    finally:
        await transport.stop()
    (tmp_path / "state" / "embedded.sqlite").chmod(0o604)
    with pytest.raises(ConfigError, match=r"embedded\.sqlite is open .*\(mode 0604\)"):
        await EmbeddedTransport(tmp_path / "state" / "embedded.sqlite").start()


def test_an_audit_bundle_is_private(tmp_path: Path, umask: int) -> None:
    fed = create_federation(tmp_path / "fed")
    path = tmp_path / "bundle.jsonl"
    with BundleWriter(path, federation=fed.federation_id, agreements=fed.agreements, documents=[]):
        pass
    assert mode(path) == 0o600


def test_key_folders_are_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    keys = KeyStore(tmp_path / "config" / "silian" / "keys")
    keys.new("330000000000", now=datetime.now(UTC))
    for folder in ("config", "config/silian", "config/silian/keys", "config/silian/keys/private"):
        assert mode(tmp_path / folder) == 0o700, folder
    assert {mode(p) for p in (tmp_path / "config/silian/keys/private").iterdir()} <= {
        0o600,
        0o400,  # umask 277 takes the owner's write bit from a key file, never adds others'
    }
