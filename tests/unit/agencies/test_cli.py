"""``silian keys`` and ``silian agreement`` end to end through ``bus.cli.main.main``."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from bus.cli import agreement as agreement_cli
from bus.cli import keys as keys_cli

from .conftest import GUANGFENG, JIANGSHAN, PUCHENG

# bus.cli re-exports the function main, which shadows the module of the same name.
cli_main = importlib.import_module("bus.cli.main")


@pytest.fixture(autouse=True)
def _wired(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # main.py does not list these modules yet; wire them for the test only.
    monkeypatch.setattr(cli_main, "_COMMAND_MODULES", (keys_cli, agreement_cli))
    yield
    # main() points logging at this test's captured stderr; undo it for later tests.
    structlog.reset_defaults()
    logging.basicConfig(force=True, handlers=[logging.NullHandler()])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli_main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_new_list_rotate_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    d = str(tmp_path / "k")
    code, out, _ = run(capsys, "keys", "new", "--agency", JIANGSHAN, "--dir", d, "--json")
    assert code == 0
    created = json.loads(out)
    assert [r["alg"] for r in created] == ["ed25519", "x25519"]
    assert created[0]["agency_name"] == "江山市公安局 (330881000000)"
    code, out, _ = run(capsys, "keys", "list", "--dir", d)
    assert code == 0
    assert "江山市公安局 (330881000000)" in out
    code, out, _ = run(capsys, "keys", "rotate", "--agency", JIANGSHAN, "--dir", d, "--json")
    assert code == 0
    assert len(json.loads(out)) == 2
    code, out, _ = run(capsys, "keys", "list", "--agency", JIANGSHAN, "--dir", d, "--json")
    listed = json.loads(out)
    assert len(listed) == 4
    assert sum(1 for r in listed if r.get("valid_until")) == 2
    code, out, _ = run(
        capsys, "keys", "revoke", "--agency", JIANGSHAN, "--dir", d, "--reason", "lost"
    )
    assert code == 0
    assert "已吊销" in out


def test_keys_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    d = str(tmp_path / "k")
    code, _, err = run(capsys, "keys", "new", "--agency", "999999000000", "--dir", d)
    assert code == 1
    assert err.startswith("silian: error: unknown agency code")
    assert "Traceback" not in err
    code, _, err = run(
        capsys, "keys", "new", "--agency", JIANGSHAN, "--dir", d, "--passphrase-env", "NOPE_X"
    )
    assert code == 2
    assert "NOPE_X is not set" in err


def test_keys_passphrase_from_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SILIAN_TEST_PASS", "口令 passphrase")
    d = str(tmp_path / "k")
    args = ("--dir", d, "--passphrase-env", "SILIAN_TEST_PASS")
    assert run(capsys, "keys", "new", "--agency", JIANGSHAN, *args)[0] == 0
    pem = next((tmp_path / "k" / "private").glob("*.pem")).read_bytes()
    assert b"ENCRYPTED" in pem
    monkeypatch.setenv("SILIAN_TEST_PASS", "wrong")
    out_dir = str(tmp_path / "a")
    assert run(capsys, "agreement", "init", "--federation", "jpg", "--out", out_dir, *args)[0] == 0
    code, _, err = run(
        capsys, "agreement", "sign", "--agency", JIANGSHAN, "--agreement", out_dir, *args
    )
    assert code == 1
    assert "wrong passphrase for" in err


def _setup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    keys, folder = str(tmp_path / "k"), str(tmp_path / "a")
    code, out, _ = run(
        capsys, "agreement", "init", "--federation", "jpg", "--out", folder, "--dir", keys
    )
    assert code == 0
    assert "浦城县公安局 (350722000000)" in out
    for member in (JIANGSHAN, PUCHENG, GUANGFENG):
        code, out, _ = run(
            capsys, "agreement", "sign", "--agency", member, "--agreement", folder, "--dir", keys
        )
        assert code == 0, out
    return keys, folder


def test_agreement_init_sign_verify_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    _, folder = _setup(tmp_path, capsys)
    code, out, _ = run(capsys, "agreement", "verify", "--agreement", folder)
    assert code == 0
    assert "有效 valid" in out
    code, out, _ = run(capsys, "agreement", "verify", "--agreement", folder, "--json")
    assert json.loads(out) == {"ok": True, "federation": "jpg", "version": 1}
    code, out, _ = run(capsys, "agreement", "show", "--agreement", folder)
    assert code == 0
    assert "上饶市公安局广丰分局" in out
    assert "never read alerts" in out
    code, out, _ = run(capsys, "agreement", "show", "--agreement", folder, "--json")
    assert json.loads(out)["federation_id"] == "jpg"


def test_agreement_verify_fails_naming_member_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    _, folder = _setup(tmp_path, capsys)
    document = Path(folder) / "agreement.json"
    document.write_bytes(document.read_bytes().replace(b'"PT15M"', b'"PT1M"', 1))
    code, _, err = run(capsys, "agreement", "verify", "--agreement", folder)
    assert code == 1
    assert "江山市公安局 (330881000000)" in err
    assert "field deadlines changed" in err
    assert err.count("\n") == 1
    code, out, _ = run(capsys, "agreement", "verify", "--agreement", folder, "--json")
    assert code == 1
    result = json.loads(out)
    assert (result["ok"], result["member"], result["field"]) == (False, JIANGSHAN, "deadlines")


def test_agreement_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    keys, folder = _setup(tmp_path, capsys)
    code, _, err = run(
        capsys, "agreement", "init", "--federation", "jpg", "--out", folder, "--dir", keys
    )
    assert code == 1
    assert "use --force" in err
    code, _, err = run(capsys, "agreement", "verify", "--agreement", str(tmp_path / "none"))
    assert code == 1
    assert "no agreement.json" in err
