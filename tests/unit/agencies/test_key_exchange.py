"""Three agencies, three key folders: keys made where they are used, public records
exchanged by file, the agreement built and signed with no private key leaving its folder."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.agencies.conftest import GUANGFENG, JIANGSHAN, PUCHENG
from tests.unit.conftest import RunCli

MEMBERS = (JIANGSHAN, PUCHENG, GUANGFENG)


def _machines(tmp_path: Path, cli: RunCli) -> dict[str, str]:
    """Each agency's own key folder with its own keys; returns code → folder."""
    dirs = {code: str(tmp_path / code) for code in MEMBERS}
    for code, d in dirs.items():
        assert cli("keys", "new", "--agency", code, "--keys", d)[0] == 0
    return dirs


def test_the_agreement_is_built_from_exchanged_public_keys(tmp_path: Path, cli: RunCli) -> None:
    dirs = _machines(tmp_path, cli)
    own = {
        code: json.loads(cli("keys", "list", "--keys", d, "--json")[1]) for code, d in dirs.items()
    }
    for code in (PUCHENG, GUANGFENG):  # each sends its file to Jiangshan, which coordinates
        out = tmp_path / f"{code}.keys.json"
        code_, text, _ = cli("keys", "export", "--keys", dirs[code], "--out", str(out))
        assert code_ == 0
        assert "wrote 2 public key records" in text
        assert "PRIVATE" not in out.read_text()
        code_, text, _ = cli("keys", "import", str(out), "--keys", dirs[JIANGSHAN])
        assert code_ == 0
        assert text.count("added  ") == 2
        assert "confirm each added key id" in text
        for record in own[code]:
            assert record["key_id"] in text  # shown, to be read out over the phone
    folder = str(tmp_path / "agreement")
    init = ("agreement", "init", "--federation", "jpg", "--agreement", folder)
    assert cli(*init, "--keys", dirs[JIANGSHAN])[0] == 0
    # no key was made for another agency on the coordinator's machine
    private = sorted(p.name for p in (Path(dirs[JIANGSHAN]) / "private").iterdir())
    assert all(name.startswith(JIANGSHAN) for name in private)
    document = json.loads((Path(folder) / "v1" / "agreement.json").read_text())
    declared = {k["key_id"] for m in document["members"] for k in m["keys"]}
    assert declared == {r["key_id"] for records in own.values() for r in records}
    for code, d in dirs.items():  # each signs on its own machine, with its own key
        code_, _, err = cli(
            "agreement", "sign", "--agency", code, "--agreement", folder, "--keys", d
        )
        assert code_ == 0, err
    code_, out, _ = cli("agreement", "verify", "--agreement", folder, "--json")
    assert json.loads(out)["ok"] is True


def test_an_import_only_ever_narrows_a_key(tmp_path: Path, cli: RunCli) -> None:
    dirs = _machines(tmp_path, cli)
    first = tmp_path / "pucheng-1.json"
    cli("keys", "export", "--keys", dirs[PUCHENG], "--out", str(first))
    assert cli("keys", "import", str(first), "--keys", dirs[JIANGSHAN])[0] == 0
    code, out, _ = cli("keys", "import", str(first), "--keys", dirs[JIANGSHAN], "--json")
    assert code == 0
    assert [r["change"] for r in json.loads(out)] == ["unchanged", "unchanged"]
    # Pucheng revokes; its new export updates Jiangshan's copy
    assert (
        cli("keys", "revoke", "--agency", PUCHENG, "--keys", dirs[PUCHENG], "--reason", "lost")[0]
        == 0
    )
    second = tmp_path / "pucheng-2.json"
    cli("keys", "export", "--keys", dirs[PUCHENG], "--out", str(second))
    code, out, _ = cli("keys", "import", str(second), "--keys", dirs[JIANGSHAN], "--json")
    assert [r["change"] for r in json.loads(out)] == ["updated", "updated"]
    assert all(r["revoked_at"] for r in json.loads(out))
    # the old file would undo the revocation: refused, nothing changed
    before = (Path(dirs[JIANGSHAN]) / "keys.json").read_bytes()
    code, _, err = cli("keys", "import", str(first), "--keys", dirs[JIANGSHAN])
    assert code == 1
    assert "can only narrow" in err
    assert err.count("\n") == 1
    assert (Path(dirs[JIANGSHAN]) / "keys.json").read_bytes() == before


def test_import_refuses_a_record_of_its_own_key_and_bad_files(tmp_path: Path, cli: RunCli) -> None:
    dirs = _machines(tmp_path, cli)
    mine = tmp_path / "mine.json"
    cli("keys", "export", "--keys", dirs[JIANGSHAN], "--out", str(mine))
    payload = json.loads(mine.read_text())
    payload["records"][0]["revoked_at"] = "2020-01-01T00:00:00+08:00"
    payload["records"][0]["revocation_reason"] = "forged"
    mine.write_text(json.dumps(payload))
    code, _, err = cli("keys", "import", str(mine), "--keys", dirs[JIANGSHAN])
    assert code == 1
    assert "this machine's own" in err
    # a record whose key id does not match its key
    other = tmp_path / "other.json"
    cli("keys", "export", "--keys", dirs[GUANGFENG], "--out", str(other))
    payload = json.loads(other.read_text())
    payload["records"][0]["agency"] = PUCHENG
    other.write_text(json.dumps(payload))
    code, _, err = cli("keys", "import", str(other), "--keys", dirs[JIANGSHAN])
    assert code == 1
    assert "not a valid public key file" in err
    assert "Traceback" not in err
    (tmp_path / "junk.json").write_text("[1, 2]")
    code, _, err = cli("keys", "import", str(tmp_path / "junk.json"), "--keys", dirs[JIANGSHAN])
    assert code == 1
    assert "is not a silian public key file" in err
    code, _, err = cli("keys", "import", str(tmp_path / "absent.json"), "--keys", dirs[JIANGSHAN])
    assert code != 0
    assert "absent.json" in err
    # export with nothing of one's own
    code, _, err = cli("keys", "export", "--keys", str(tmp_path / "empty"))
    assert code == 2
    assert "no private key in" in err
