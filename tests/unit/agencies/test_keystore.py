from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest

from agencies import KeyAlg, KeyStore, KeyStoreError, SigningKey

from .conftest import JIANGSHAN, T0


def _private_files(store: KeyStore) -> list[Path]:
    return sorted((store.directory / "private").glob("*.pem"))


def test_new_writes_0600_pkcs8_files_and_public_records(keystore: KeyStore):
    pair = keystore.new(JIANGSHAN, now=T0)
    files = _private_files(keystore)
    assert len(files) == 2
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert keystore.records(JIANGSHAN) == (pair.signing, pair.sealing)
    assert keystore.current(JIANGSHAN, KeyAlg.ED25519, at=T0) == pair.signing
    loaded = keystore.signing_key(pair.signing.key_id)
    assert loaded.public_key == pair.signing.verify_key()
    sealing = keystore.sealing_key(pair.sealing.key_id)
    assert sealing.public_key == pair.sealing.sealing_key()
    public_json = (keystore.directory / "keys.json").read_text()
    assert "PRIVATE" not in public_json


def test_new_twice_is_refused(keystore: KeyStore):
    keystore.new(JIANGSHAN, now=T0)
    with pytest.raises(KeyStoreError, match="already has a usable key"):
        keystore.new(JIANGSHAN, now=T0 + timedelta(days=1))


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_key_file_readable_by_others_is_refused(keystore: KeyStore, mode: int):
    pair = keystore.new(JIANGSHAN, now=T0)
    for path in _private_files(keystore):
        path.chmod(mode)
    with pytest.raises(KeyStoreError, match=f"readable by group or others \\(mode {mode:04o}\\)"):
        keystore.signing_key(pair.signing.key_id)


def test_missing_private_key_is_a_clear_error(keystore: KeyStore):
    with pytest.raises(KeyStoreError, match="no private key for"):
        keystore.signing_key("330881000000:ed25519:0000000000000000")


def test_passphrase_encrypts_and_wrong_passphrase_is_named(tmp_path: Path):
    store = KeyStore(tmp_path / "k", passphrase=b"correct horse")
    pair = store.new(JIANGSHAN, now=T0)
    pem = _private_files(store)[0].read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert store.signing_key(pair.signing.key_id).public_key == pair.signing.verify_key()
    with pytest.raises(KeyStoreError, match=r"wrong passphrase for .*\.pem"):
        KeyStore(tmp_path / "k", passphrase=b"wrong").signing_key(pair.signing.key_id)
    with pytest.raises(KeyStoreError, match="a passphrase is needed"):
        KeyStore(tmp_path / "k").signing_key(pair.signing.key_id)


def test_errors_and_repr_never_contain_the_passphrase(tmp_path: Path):
    store = KeyStore(tmp_path / "k", passphrase=b"s3cret-pass")
    pair = store.new(JIANGSHAN, now=T0)
    assert "s3cret" not in repr(store)
    with pytest.raises(KeyStoreError) as caught:
        KeyStore(tmp_path / "k", passphrase=b"s3cret-wrong").signing_key(pair.signing.key_id)
    assert "s3cret" not in str(caught.value)


def test_rotate_ends_the_old_window_and_starts_a_new_one(keystore: KeyStore):
    old = keystore.new(JIANGSHAN, now=T0)
    t1 = T0 + timedelta(days=30)
    new = keystore.rotate(JIANGSHAN, now=t1)
    assert new.signing.key_id != old.signing.key_id
    records = {r.key_id: r for r in keystore.records(JIANGSHAN)}
    assert records[old.signing.key_id].valid_until == t1
    assert records[old.sealing.key_id].valid_until == t1
    assert new.signing.valid_from == t1
    assert keystore.current(JIANGSHAN, KeyAlg.ED25519, at=t1) == new.signing
    assert keystore.current(JIANGSHAN, KeyAlg.ED25519, at=t1 - timedelta(seconds=1)).key_id == (
        old.signing.key_id
    )
    # The old private key stays: records signed in its window can still be re-checked.
    assert isinstance(keystore.signing_key(old.signing.key_id), SigningKey)


def test_rotate_without_keys_is_refused(keystore: KeyStore):
    with pytest.raises(KeyStoreError, match="no usable"):
        keystore.rotate(JIANGSHAN, now=T0)


def test_revoke_marks_time_and_reason(keystore: KeyStore):
    pair = keystore.new(JIANGSHAN, now=T0)
    t1 = T0 + timedelta(hours=5)
    revoked = keystore.revoke(JIANGSHAN, now=t1, reason="laptop stolen")
    assert {r.key_id for r in revoked} == {pair.signing.key_id, pair.sealing.key_id}
    record = keystore.record(pair.signing.key_id)
    assert (record.revoked_at, record.revocation_reason) == (t1, "laptop stolen")
    with pytest.raises(KeyStoreError, match="no usable"):
        keystore.current(JIANGSHAN, KeyAlg.ED25519, at=t1)
    with pytest.raises(KeyStoreError, match="no unrevoked key"):
        keystore.revoke(JIANGSHAN, now=t1, reason="again")
    with pytest.raises(KeyStoreError, match="needs a reason"):
        keystore.revoke(JIANGSHAN, now=t1, reason=" ")
    # A new pair may be made once the old one is revoked.
    assert keystore.new(JIANGSHAN, now=t1).signing.valid_from == t1


def test_revoke_one_key_only(keystore: KeyStore):
    pair = keystore.new(JIANGSHAN, now=T0)
    keystore.revoke(JIANGSHAN, now=T0, reason="test", key_id=pair.sealing.key_id)
    assert keystore.record(pair.signing.key_id).revoked_at is None
    assert keystore.record(pair.sealing.key_id).revoked_at == T0


def _swap(keystore: KeyStore, key_id: str, other: str) -> Path:
    """Copy ``other``'s private key file over ``key_id``'s (kept 0600): a swapped file."""
    target = keystore.directory / "private" / (key_id.replace(":", "_") + ".pem")
    source = keystore.directory / "private" / (other.replace(":", "_") + ".pem")
    target.write_bytes(source.read_bytes())
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    return target


def test_a_private_key_file_that_holds_another_key_is_refused(keystore: KeyStore):
    first = keystore.new(JIANGSHAN, now=T0)
    second = keystore.rotate(JIANGSHAN, now=T0 + timedelta(days=1))
    swapped = _swap(keystore, first.signing.key_id, second.signing.key_id)
    with pytest.raises(KeyStoreError) as refused:
        keystore.signing_key(first.signing.key_id)
    said = str(refused.value)
    assert f"private key file {swapped} does not hold key {first.signing.key_id}" in said
    assert f"its public key is sha256:{second.signing.verify_key().fingerprint}" in said
    assert "from a backup" in said
    assert "silian keys revoke --agency 330881000000" in said
    sealed = _swap(keystore, second.sealing.key_id, first.sealing.key_id)
    with pytest.raises(KeyStoreError, match=f"private key file {sealed} does not hold key"):
        keystore.sealing_key(second.sealing.key_id)
    assert keystore.signing_key(second.signing.key_id).public_key == second.signing.verify_key()


@pytest.mark.parametrize(
    "key_id", ["../../outside", "330881000000:ed25519:0000", "330881000000_ed25519_" + "0" * 16]
)
def test_a_key_id_is_not_a_path(keystore: KeyStore, key_id: str):
    keystore.new(JIANGSHAN, now=T0)
    assert not keystore.has_private(key_id)
    with pytest.raises(KeyStoreError, match="is not a key id"):
        keystore.signing_key(key_id)


@pytest.mark.parametrize(
    ("keys_json", "said"),
    [
        (b'{"format":"silian-keys-v1","records":' + b"[" * 50_000 + b"]" * 50_000 + b"}", "deeper"),
        (b'{"format":"silian-keys-v1","records":[{"key_id":1e400}]}', "records.0.key_id: "),
        (b'{"format":"silian-keys-v1","records":[1,2]}', "records.0: "),
        (b'{"format":"silian-keys-v1","records":7}', "records: "),
        (b"\xff\xfe", "is not a valid key list"),
        (b"[]", "is not a silian key list"),
    ],
)
def test_a_malformed_key_list_is_one_line(keystore: KeyStore, keys_json: bytes, said: str):
    keystore.directory.mkdir(mode=0o700)
    (keystore.directory / "keys.json").write_bytes(keys_json)
    with pytest.raises(KeyStoreError) as refused:
        keystore.records()
    assert said in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_key_list_that_cannot_be_read_is_a_key_store_error(keystore: KeyStore):
    (keystore.directory / "keys.json").mkdir(parents=True)
    with pytest.raises(KeyStoreError, match=r"cannot read .*keys\.json"):
        keystore.records()
    (keystore.directory / "private").write_text("not a folder")
    with pytest.raises(KeyStoreError, match="no private key for"):
        keystore.signing_key("330881000000:ed25519:0000000000000000")
    (keystore.directory / "private").unlink()
    pem = keystore.directory / "private" / "330881000000_ed25519_0000000000000000.pem"
    pem.mkdir(mode=0o700, parents=True)
    with pytest.raises(KeyStoreError, match=r"cannot read .*0000\.pem"):
        keystore.signing_key("330881000000:ed25519:0000000000000000")
