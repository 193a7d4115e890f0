"""``silian agreement next`` and the versioned folder, end to end through the CLI.

The CLI's clock (``now_local`` of bus.cli.keys and bus.cli.agreement) is fixed per step, so
key windows and effective times are exact.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agencies import AgreementFolder, KeyAlg, KeyStore, VerificationError
from bus.cli import agreement as agreement_cli
from bus.cli import keys as keys_cli
from tests.unit.agencies.conftest import GUANGFENG, JIANGSHAN, PUCHENG, T0
from tests.unit.conftest import RunCli

JPG = (JIANGSHAN, PUCHENG, GUANGFENG)
T1 = T0 + timedelta(days=30)  # the rotation (or revocation)
DAY = timedelta(days=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fixed = Clock(T0)
    monkeypatch.setattr(keys_cli, "now_local", fixed)
    monkeypatch.setattr(agreement_cli, "now_local", fixed)
    return fixed


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[str, str]:
    return str(tmp_path / "keys"), str(tmp_path / "agreement")


def _sign_all(cli: RunCli, keys: str, folder: str, label: str) -> None:
    for member in JPG:
        code, out, err = cli(
            "agreement", "sign", "--agency", member, "--agreement", folder, "--keys", keys
        )
        assert (code, err) == (0, ""), err
        assert f"signed {label}" in out


def _v1(cli: RunCli, keys: str, folder: str) -> None:
    code, out, _ = cli(
        "agreement", "init", "--federation", "jpg", "--agreement", folder, "--keys", keys
    )
    assert code == 0
    assert str(Path(folder) / "v1" / "agreement.json") in out
    _sign_all(cli, keys, folder, "jpg v1")


def _old_signing_key_id(folder: str) -> str:
    v1 = AgreementFolder(Path(folder)).parse(1)
    return next(k.key_id for k in v1.member(JIANGSHAN).keys if k.alg is KeyAlg.ED25519)


def test_rotate_next_sign_verify_and_records_judged_at_their_time(
    cli: RunCli, clock: Clock, dirs: tuple[str, str]
) -> None:
    keys, folder = dirs
    _v1(cli, keys, folder)
    code, out, _ = cli("agreement", "verify", "--agreement", folder)
    assert code == 0
    assert "有效 valid" in out
    assert "(jpg v1)" in out
    v1_bytes = (Path(folder) / "v1" / "agreement.json").read_bytes()
    old_key_id = _old_signing_key_id(folder)

    # A record (any bytes) signed with the old key inside its window, before the rotation.
    store = KeyStore(Path(keys))
    record = "江山 alert.issued, 10 days in".encode()
    record_sig = store.signing_key(old_key_id).sign(record)

    clock.now = T1
    assert cli("keys", "rotate", "--agency", JIANGSHAN, "--keys", keys)[0] == 0
    code, out, err = cli("agreement", "next", "--agreement", folder, "--keys", keys)
    assert (code, err) == (0, ""), err
    assert "(jpg v2)" in out
    assert f"{old_key_id} 至 valid until {T1.isoformat()}" in out
    assert out.count("新密钥 new key") == 2  # the new signing and sealing keys
    assert out.count("待签署 still to sign") == 3

    # Not in force until every member signed: verify names the version and who is missing.
    code, _, err = cli("agreement", "verify", "--agreement", folder)
    assert code == 1
    assert "v2" in err
    assert "江山市公安局 (330881000000) has not signed" in err
    assert err.count("\n") == 1

    _sign_all(cli, keys, folder, "jpg v2")
    code, out, _ = cli("agreement", "verify", "--agreement", folder)
    assert code == 0
    assert "(jpg v1)" in out
    assert "(jpg v2)" in out
    assert "现行 in force now: jpg v2" in out
    code, out, _ = cli("agreement", "verify", "--agreement", folder, "--json")
    result = json.loads(out)
    assert (result["ok"], result["version"]) == (True, 2)
    assert [v["version"] for v in result["verified"]] == [1, 2]
    # Version 1 was never rewritten.
    assert (Path(folder) / "v1" / "agreement.json").read_bytes() == v1_bytes

    history = AgreementFolder(Path(folder)).history()
    assert [v.version for v in history.versions] == [1, 2]
    # Inside the old window: still verifies.
    history.signing_key(old_key_id, T0 + 10 * DAY).verify(record_sig, record)
    # After the rotation: refused, and the reason names the key.
    with pytest.raises(VerificationError, match="expired") as refused:
        history.signing_key(old_key_id, T1 + DAY)
    assert old_key_id in str(refused.value)
    # The new key verifies what it signs from the rotation on.
    new = store.current(JIANGSHAN, KeyAlg.ED25519, at=T1)
    signed_later = store.signing_key(new.key_id).sign(record)
    history.signing_key(new.key_id, T1 + DAY).verify(signed_later, record)


def test_next_with_effective_from_later_than_the_rotation(
    cli: RunCli, clock: Clock, dirs: tuple[str, str]
) -> None:
    keys, folder = dirs
    _v1(cli, keys, folder)
    old_key_id = _old_signing_key_id(folder)
    clock.now = T1
    assert cli("keys", "rotate", "--agency", JIANGSHAN, "--keys", keys)[0] == 0
    takes_effect = T1 + DAY
    code, out, err = cli(
        "agreement",
        "next",
        "--agreement",
        folder,
        "--keys",
        keys,
        "--effective-from",
        takes_effect.isoformat(),
        "--json",
    )
    assert (code, err) == (0, ""), err
    made = json.loads(out)
    assert (made["version"], made["effective_from"]) == (2, takes_effect.isoformat())
    assert made["unsigned"] == list(JPG)
    _sign_all(cli, keys, folder, "jpg v2")
    history = AgreementFolder(Path(folder)).history()
    # Staged: between the rotation and v2 the old key still signs (v1 is in force and v2
    # ends the key when it takes effect, not at the rotation), so no record accepted in
    # between turns invalid; from v2 on it is expired.
    assert history.in_force_at(T1 + DAY / 2).version == 1
    history.signing_key(old_key_id, T1 + DAY / 2)
    with pytest.raises(VerificationError, match=rf"{old_key_id} expired"):
        history.signing_key(old_key_id, takes_effect)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("2025-02-01T09:00:00+08:00", "is not after jpg v1 took effect"),
        ("2025-03-01T09:00:00+08:00", "is not after jpg v1 took effect"),  # equal is not after
        ("next tuesday", "is not an RFC 3339 time"),
        ("2025-04-01T09:00:00", "has no offset"),
    ],
)
def test_next_refuses_a_bad_effective_from(
    cli: RunCli, clock: Clock, dirs: tuple[str, str], value: str, says: str
) -> None:
    keys, folder = dirs
    _v1(cli, keys, folder)
    code, _, err = cli(
        "agreement", "next", "--agreement", folder, "--keys", keys, "--effective-from", value
    )
    assert code == 2
    assert says in err
    assert err.count("\n") == 1
    assert AgreementFolder(Path(folder)).versions() == (1,)


def test_revoke_new_next_walkthrough(cli: RunCli, clock: Clock, dirs: tuple[str, str]) -> None:
    keys, folder = dirs
    _v1(cli, keys, folder)
    v1 = AgreementFolder(Path(folder)).parse(1)
    lost = next(k.key_id for k in v1.member(PUCHENG).keys if k.alg is KeyAlg.ED25519)
    store = KeyStore(Path(keys))
    before = store.signing_key(lost).sign(b"before the loss")
    clock.now = T1
    assert (
        cli("keys", "revoke", "--agency", PUCHENG, "--reason", "笔记本被盗", "--keys", keys)[0] == 0
    )
    # Without a usable signing key Pucheng could never sign the next version: refused.
    code, _, err = cli("agreement", "next", "--agreement", folder, "--keys", keys)
    assert code == 1
    assert "浦城县公安局 (350722000000) has no signing key usable" in err
    assert f"silian keys new --agency {PUCHENG}" in err
    assert AgreementFolder(Path(folder)).versions() == (1,)
    assert cli("keys", "new", "--agency", PUCHENG, "--keys", keys)[0] == 0
    code, out, _ = cli("agreement", "next", "--agreement", folder, "--keys", keys)
    assert code == 0
    assert f"已吊销 revoked {lost}" in out
    _sign_all(cli, keys, folder, "jpg v2")
    assert cli("agreement", "verify", "--agreement", folder)[0] == 0
    history = AgreementFolder(Path(folder)).history()
    history.signing_key(lost, T0 + DAY).verify(before, b"before the loss")
    with pytest.raises(VerificationError, match=rf"{lost} revoked .*笔记本被盗"):
        history.signing_key(lost, T1 + timedelta(hours=1))


@pytest.fixture
def two_versions(cli: RunCli, clock: Clock, dirs: tuple[str, str]) -> tuple[str, str]:
    """jpg v1 and v2 (after Guangfeng rotated), both signed by all: (key dir, folder)."""
    keys, folder = dirs
    _v1(cli, keys, folder)
    clock.now = T1
    assert cli("keys", "rotate", "--agency", GUANGFENG, "--keys", keys)[0] == 0
    assert cli("agreement", "next", "--agreement", folder, "--keys", keys)[0] == 0
    _sign_all(cli, keys, folder, "jpg v2")
    return keys, folder


@pytest.mark.parametrize(
    ("file", "damage", "says"),
    [
        ("v2/agreement.json", lambda b: b[: len(b) // 2], "not valid UTF-8 JSON"),
        ("v2/agreement.json", lambda b: b"\xff" + b, "not valid UTF-8 JSON"),
        ("v1/signatures.json", lambda _: b"{not json", "signatures.json: signature file"),
        (
            "v2/agreement.json",
            lambda b: b.replace(b'"version": 2', b'"version": 3'),
            "field version changed after it signed",
        ),
        (
            "v1/signatures.json",
            lambda b: b.replace(b'"signature": "', b'"signature": "AAAA', 1),
            "signature does not verify",
        ),
    ],
)
def test_a_corrupted_file_is_one_line_never_a_traceback(
    cli: RunCli,
    two_versions: tuple[str, str],
    file: str,
    damage: Callable[[bytes], bytes],
    says: str,
) -> None:
    keys, folder = two_versions
    path = Path(folder) / file
    path.write_bytes(damage(path.read_bytes()))
    code, _, err = cli("agreement", "verify", "--agreement", folder)
    assert code == 1
    assert err.startswith("silian: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert says in err
    version_dir = file.partition("/")[0]
    assert str(Path(folder) / version_dir) in err  # names the version's folder
    # Every other command that reads the folder refuses as cleanly.
    for argv in (
        ("agreement", "next", "--agreement", folder, "--keys", keys),
        ("agreement", "sign", "--agency", JIANGSHAN, "--agreement", folder, "--keys", keys),
        ("agreement", "show", "--agreement", folder, "--version", version_dir[1:]),
    ):
        code, _, err = cli(*argv)
        if code == 0:  # sign and show only read the newest/asked version's parts
            continue
        assert code == 1, argv
        assert err.startswith("silian: error: ")
        assert err.count("\n") == 1
        assert "Traceback" not in err


def test_show_versions_and_init_force(cli: RunCli, two_versions: tuple[str, str]) -> None:
    keys, folder = two_versions
    code, out, _ = cli("agreement", "show", "--agreement", folder)
    assert code == 0
    assert "jpg v2" in out
    assert "上一版本 previous version sha256" in out
    assert "其他版本 other versions: v1" in out
    code, out, _ = cli("agreement", "show", "--agreement", folder, "--version", "1", "--json")
    assert json.loads(out)["version"] == 1
    code, _, err = cli("agreement", "show", "--agreement", folder, "--version", "7")
    assert code == 1
    assert "v7" in err
    code, _, err = cli(
        "agreement", "init", "--federation", "jpg", "--agreement", folder, "--keys", keys
    )
    assert code == 1
    assert "already holds an agreement (v2)" in err
    code, _, _ = cli(
        "agreement", "init", "--federation", "jpg", "--agreement", folder, "--keys", keys, "--force"
    )
    assert code == 0
    assert AgreementFolder(Path(folder)).versions() == (1,)


def test_a_folder_of_the_old_single_file_layout_says_how_to_move(
    cli: RunCli, tmp_path: Path
) -> None:
    (tmp_path / "agreement.json").write_text("{}")
    code, _, err = cli("agreement", "verify", "--agreement", str(tmp_path))
    assert code == 1
    assert f"move it and signatures.json into {tmp_path / 'v1'}/" in err
