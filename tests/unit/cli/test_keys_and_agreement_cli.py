"""``silian keys`` and ``silian agreement`` end to end through ``bus.cli.main.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.agencies.conftest import GUANGFENG, JIANGSHAN, PUCHENG
from tests.unit.conftest import RunCli


def test_keys_new_list_rotate_revoke(tmp_path: Path, cli: RunCli):
    d = str(tmp_path / "k")
    code, out, _ = cli("keys", "new", "--agency", JIANGSHAN, "--keys", d, "--json")
    assert code == 0
    created = json.loads(out)
    assert [r["alg"] for r in created] == ["ed25519", "x25519"]
    assert created[0]["agency_name"] == "江山市公安局 (330881000000)"
    code, out, _ = cli("keys", "list", "--keys", d)
    assert code == 0
    assert "江山市公安局 (330881000000)" in out
    code, out, _ = cli("keys", "rotate", "--agency", JIANGSHAN, "--keys", d, "--json")
    assert code == 0
    assert len(json.loads(out)) == 2
    code, out, _ = cli("keys", "list", "--agency", JIANGSHAN, "--keys", d, "--json")
    listed = json.loads(out)
    assert len(listed) == 4
    assert sum(1 for r in listed if r.get("valid_until")) == 2
    code, out, _ = cli("keys", "revoke", "--agency", JIANGSHAN, "--keys", d, "--reason", "lost")
    assert code == 0
    assert "已吊销" in out


def test_keys_errors_are_one_line(tmp_path: Path, cli: RunCli):
    d = str(tmp_path / "k")
    code, _, err = cli("keys", "new", "--agency", "999999000000", "--keys", d)
    assert code == 1
    assert err.startswith("silian: error: unknown agency code")
    assert "Traceback" not in err
    code, _, err = cli(
        "keys", "new", "--agency", JIANGSHAN, "--keys", d, "--passphrase-env", "NOPE_X"
    )
    assert code == 2
    assert "NOPE_X is not set" in err


def test_keys_passphrase_from_env(tmp_path: Path, cli: RunCli, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SILIAN_TEST_PASS", "口令 passphrase")
    d = str(tmp_path / "k")
    args = ("--keys", d, "--passphrase-env", "SILIAN_TEST_PASS")
    assert cli("keys", "new", "--agency", JIANGSHAN, *args)[0] == 0
    pem = next((tmp_path / "k" / "private").glob("*.pem")).read_bytes()
    assert b"ENCRYPTED" in pem
    monkeypatch.setenv("SILIAN_TEST_PASS", "wrong")
    out_dir = str(tmp_path / "a")
    assert cli("agreement", "init", "--federation", "jpg", "--agreement", out_dir, *args)[0] == 0
    code, _, err = cli("agreement", "sign", "--agency", JIANGSHAN, "--agreement", out_dir, *args)
    assert code == 1
    assert "wrong passphrase for" in err


def _setup(tmp_path: Path, cli: RunCli) -> tuple[str, str]:
    keys, folder = str(tmp_path / "k"), str(tmp_path / "a")
    code, out, _ = cli(
        "agreement", "init", "--federation", "jpg", "--agreement", folder, "--keys", keys
    )
    assert code == 0
    assert "浦城县公安局 (350722000000)" in out
    for member in (JIANGSHAN, PUCHENG, GUANGFENG):
        code, out, _ = cli(
            "agreement", "sign", "--agency", member, "--agreement", folder, "--keys", keys
        )
        assert code == 0, out
    return keys, folder


def test_agreement_init_sign_verify_show(tmp_path: Path, cli: RunCli):
    _, folder = _setup(tmp_path, cli)
    code, out, _ = cli("agreement", "verify", "--agreement", folder)
    assert code == 0
    assert "有效 valid" in out
    code, out, _ = cli("agreement", "verify", "--agreement", folder, "--json")
    result = json.loads(out)
    assert (result["ok"], result["federation"], result["version"]) == (True, "jpg", 1)
    assert [v["version"] for v in result["verified"]] == [1]
    code, out, _ = cli("agreement", "show", "--agreement", folder)
    assert code == 0
    assert "上饶市公安局广丰分局" in out
    assert "never read alerts" in out
    code, out, _ = cli("agreement", "show", "--agreement", folder, "--json")
    assert json.loads(out)["federation_id"] == "jpg"


def test_agreement_verify_fails_naming_member_and_field(tmp_path: Path, cli: RunCli):
    _, folder = _setup(tmp_path, cli)
    document = Path(folder) / "v1" / "agreement.json"
    document.write_bytes(document.read_bytes().replace(b'"PT15M"', b'"PT1M"', 1))
    code, _, err = cli("agreement", "verify", "--agreement", folder)
    assert code == 1
    assert "江山市公安局 (330881000000)" in err
    assert "field deadlines changed" in err
    assert err.count("\n") == 1
    code, out, _ = cli("agreement", "verify", "--agreement", folder, "--json")
    assert code == 1
    result = json.loads(out)
    assert (result["ok"], result["member"], result["field"]) == (False, JIANGSHAN, "deadlines")
    assert result["version"] == 1


def test_agreement_init_refuses_to_overwrite(tmp_path: Path, cli: RunCli):
    keys, folder = _setup(tmp_path, cli)
    code, _, err = cli(
        "agreement", "init", "--federation", "jpg", "--agreement", folder, "--keys", keys
    )
    assert code == 1
    assert "use --force" in err
    code, _, err = cli("agreement", "verify", "--agreement", str(tmp_path / "none"))
    assert code == 1
    assert "no agreement in" in err
    assert "silian agreement init" in err


def test_keys_list_on_an_empty_folder_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bus.cli.main import main  # noqa: PLC0415

    assert main(["keys", "list", "--keys", str(tmp_path / "none")]) == 0
    assert "no keys in" in capsys.readouterr().out


def test_deeply_nested_files_are_one_line(tmp_path: Path, cli: RunCli):
    keys, folder = _setup(tmp_path, cli)
    deep = b"[" * 100_000 + b"]" * 100_000
    document = Path(folder) / "v1" / "agreement.json"
    signed = document.read_bytes()
    document.write_bytes(signed.replace(b'"name_zh"', b'"x": ' + deep + b',\n  "name_zh"', 1))
    code, _, err = cli("agreement", "verify", "--agreement", folder)
    assert (code, err) == (1, f"silian: error: {folder}/v1: agreement document nests deeper "
                              "than 32 levels\n")  # fmt: skip
    document.write_bytes(signed)
    signatures = Path(folder) / "v1" / "signatures.json"
    signatures.write_bytes(b'{"format": "silian-agreement-signatures-v1", "signatures": ' + deep)
    code, _, err = cli("agreement", "verify", "--agreement", folder)
    assert code == 1
    assert err.startswith(f"silian: error: {signatures}: signature file: Invalid JSON: recursion")
    assert err.count("\n") == 1
    (Path(keys) / "keys.json").write_bytes(b'{"format": "silian-keys-v1", "records": ' + deep)
    code, _, err = cli("keys", "list", "--keys", keys)
    assert (code, err) == (1, f"silian: error: {keys}/keys.json is not a valid key list: "
                              "nested deeper than 32 levels\n")  # fmt: skip
    exported = tmp_path / "export.json"
    exported.write_bytes(b'{"format": "silian-public-keys-v1", "records": ' + deep)
    code, _, err = cli("keys", "import", str(exported), "--keys", keys)
    assert code == 1
    assert "is not a valid public key file: nested deeper than 32 levels" in err
    template = tmp_path / "deep.toml"
    template.write_text("members = " + "[" * 100_000 + "]" * 100_000 + "\n")
    new = str(tmp_path / "new")
    code, _, err = cli("agreement", "init", "--federation", str(template), "--agreement", new)
    assert (code, err) == (1, f"silian: error: {template} nests arrays or tables too deeply\n")


def test_keys_and_agreement_take_the_bus_flags_and_environment(
    tmp_path: Path, cli: RunCli, monkeypatch: pytest.MonkeyPatch
):
    """One CLI: the agency, key folder and agreement folder come from the same
    environment as for the bus commands, and --dir is still read as --keys."""
    keys, folder = tmp_path / "k", tmp_path / "a"
    monkeypatch.setenv("SILIAN_KEY_DIR", str(keys))
    monkeypatch.setenv("SILIAN_AGREEMENT_DIR", str(folder))
    for member in (JIANGSHAN, PUCHENG, GUANGFENG):
        monkeypatch.setenv("SILIAN_AGENCY", member)
        assert cli("keys", "new")[0] == 0
    assert cli("agreement", "init", "--federation", "jpg")[0] == 0
    assert (folder / "v1" / "agreement.json").is_file()
    for member in (JIANGSHAN, PUCHENG, GUANGFENG):
        monkeypatch.setenv("SILIAN_AGENCY", member)
        code, out, err = cli("agreement", "sign")
        assert code == 0, err
    code, out, _ = cli("agreement", "verify", "--json")
    assert code == 0
    assert json.loads(out)["ok"] is True
    monkeypatch.delenv("SILIAN_KEY_DIR")
    code, out, _ = cli("keys", "list", "--dir", str(keys), "--json")  # the old name
    assert code == 0
    assert {r["agency"] for r in json.loads(out)} == {JIANGSHAN, PUCHENG, GUANGFENG}
    monkeypatch.delenv("SILIAN_AGENCY")
    code, _, err = cli("keys", "rotate", "--keys", str(keys))
    assert code == 2
    assert (
        err.strip()
        == "silian: error: which agency is this? pass --agency CODE or set SILIAN_AGENCY"
    )


def test_an_encrypted_key_without_its_passphrase_says_where_silian_looks(
    tmp_path: Path, cli: RunCli, monkeypatch: pytest.MonkeyPatch
):
    d = str(tmp_path / "k")
    monkeypatch.setenv("SILIAN_KEY_PASSPHRASE", "口令 passphrase")
    assert cli("keys", "new", "--agency", JIANGSHAN, "--keys", d)[0] == 0
    pem = next((tmp_path / "k" / "private").glob("*.pem")).read_bytes()
    assert b"ENCRYPTED" in pem  # the default variable was read
    folder = str(tmp_path / "a")
    assert (
        cli("agreement", "init", "--federation", "jpg", "--agreement", folder, "--keys", d)[0] == 0
    )
    monkeypatch.delenv("SILIAN_KEY_PASSPHRASE")
    code, _, err = cli(
        "agreement", "sign", "--agency", JIANGSHAN, "--agreement", folder, "--keys", d
    )
    assert code == 1
    assert err.count("\n") == 1
    assert "is encrypted: a passphrase is needed" in err
    assert "$SILIAN_KEY_PASSPHRASE" in err
    assert "--passphrase-env" in err
