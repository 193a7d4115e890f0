"""``docker/silian-setup.sh``, the compose file's one-shot setup: each member's keys in its
own folder, encrypted; the agreement signed by all; topics; and nothing redone when run
again."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.unit.deploy.conftest import MEMBERS, PASSPHRASES, Site, tool_env


def _silian(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["silian", *argv], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_every_member_signed_the_agreement_with_keys_of_its_own(site: Site) -> None:
    env = site.setup_env()
    verified = _silian("agreement", "verify", "--json", env=env)
    assert verified.returncode == 0, verified.stderr
    assert [v["version"] for v in json.loads(verified.stdout)["verified"]] == [1]
    for code in MEMBERS:
        folder = site.members / code
        records = json.loads((folder / "keys.json").read_text(encoding="utf-8"))["records"]
        assert {r["agency"] for r in records} == {code}  # only its own keys, no one else's
        private = sorted((folder / "private").iterdir())
        assert len(private) == 2  # signing and sealing
        for path in private:
            assert b"ENCRYPTED" in path.read_bytes()  # never written unencrypted
            assert path.stat().st_mode & 0o077 == 0
        for other in MEMBERS:
            if other != code:
                assert PASSPHRASES[other].encode() not in b"".join(_snapshot(folder).values())


def test_topics_were_applied(site: Site) -> None:
    listed = _silian("topics", "list", "--json", env=site.setup_env())
    assert listed.returncode == 0, listed.stdout + listed.stderr  # 1 if one were missing


def test_running_it_again_changes_nothing(site: Site) -> None:
    before = {name: _snapshot(site.root / name) for name in ("agreement", "members")}
    again = site.run_setup()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "making the keys" not in again.stdout
    assert "writing version 1" not in again.stdout
    assert "nothing changed" in again.stdout  # topics apply found every topic
    assert {name: _snapshot(site.root / name) for name in before} == before


def test_a_member_without_a_passphrase_gets_no_keys(tmp_path: Path) -> None:
    fresh = Site(tmp_path)
    without = {k: v for k, v in PASSPHRASES.items() if k != MEMBERS[0]}
    ran = fresh.run_setup(passphrases=without)
    assert ran.returncode != 0
    assert f"SILIAN_KEY_PASSPHRASE_{MEMBERS[0]} is not set" in ran.stderr
    assert not (fresh.members / MEMBERS[0] / "private").exists()
    assert not (fresh.agreement / "v1").exists()


def test_the_script_needs_the_agreement_folder(tmp_path: Path) -> None:
    ran = subprocess.run(
        ["sh", str(Path(__file__).resolve().parents[3] / "docker" / "silian-setup.sh")],
        env=tool_env(SILIAN_SETUP_KEYS=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode != 0
    assert "SILIAN_AGREEMENT_DIR" in ran.stderr
    assert not any(tmp_path.iterdir())
