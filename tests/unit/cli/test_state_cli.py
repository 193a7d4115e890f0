"""``silian state backup | restore`` through ``main``: JSON out, exit codes, one-line errors."""

from __future__ import annotations

import contextlib
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from bus.state.sqlite import Layout, connect
from bus.state.store import LocalStore
from contracts import examples
from tests.unit.cli.conftest import Ran, Setup
from tests.unit.cli.test_publish_cli import issued_json

PC = examples.PUCHENG


@pytest.fixture
def served(setup: Setup, silian: Callable[..., Ran]) -> Setup:
    """Jiangshan published an alert; Pucheng's serve received and answered it."""
    assert silian("topics", "apply").code == 0
    alert = setup.root / "alert.json"
    alert.write_text(issued_json())
    published = silian(
        "publish", str(alert), "--type", "alert.issued", "--agency", examples.JIANGSHAN
    )
    assert published.code == 0, published.err
    ran = silian("serve", "--once", "--agency", PC, "--log-level", "ERROR")
    assert ran.code == 0, ran.err
    return setup


def _one_line_error(ran: Ran, code: int, *needles: str) -> None:
    assert ran.code == code, ran.err
    assert ran.out == ""
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, ran.err
    assert lines[0].startswith("silian: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


async def _ledger(folder: Path) -> list[object]:
    async with LocalStore(folder / f"{PC}.sqlite") as store:
        return list(await store.ledger())


async def test_backup_then_restore_elsewhere(served: Setup, silian: Callable[..., Ran]) -> None:
    archive = served.root / "pucheng.tar"
    ran = silian("state", "backup", "--agency", PC, "--out", str(archive), "--json")
    assert ran.code == 0, ran.err
    out = backup = ran.json()
    assert out["archive"] == str(archive)
    assert out["agency"] == PC
    assert out["created"].endswith("+08:00")
    assert [f["name"] for f in out["files"]] == [f"{PC}.sqlite", "effects.sqlite"]
    assert out["store"]["ledger_rows"] == 3  # the alert and Pucheng's two answers
    assert list(out["store"]["fenced_publishers"]) == ["main"]
    assert ran.err.splitlines()[0].startswith("silian: state backup: 1/2 ")  # progress

    other = served.root / "other-state"
    ran = silian("state", "restore", "--from", str(archive), "--state", str(other), "--json")
    assert ran.code == 0, ran.err
    out = ran.json()
    assert out["folder"] == str(other / PC)
    assert out["fenced"] == backup["store"]["fenced_publishers"]
    assert out["moved_aside"] is None
    assert "rewind this agency's consumer groups" in ran.err
    assert await _ledger(other / PC) == await _ledger(served.state / PC)


def test_text_output_names_the_agency(served: Setup, silian: Callable[..., Ran]) -> None:
    archive = served.root / "pucheng.tar"
    ran = silian("state", "backup", "--agency", PC, "--out", str(archive), "--quiet")
    assert ran.code == 0, ran.err
    assert ran.err == ""
    assert ran.out.startswith(f"state of 浦城县公安局 ({PC}) → {archive}")
    assert "ledger: 3 events" in ran.out
    ran = silian("state", "restore", "--from", str(archive), "--state", str(served.root / "o"))
    assert ran.code == 0, ran.err
    assert "fenced; it starts new chains" in ran.out


def test_a_damaged_backup_is_one_line_exit_1(served: Setup, silian: Callable[..., Ran]) -> None:
    archive = served.root / "pucheng.tar"
    assert silian("state", "backup", "--agency", PC, "--out", str(archive)).code == 0
    with tarfile.open(archive) as tar:
        offset = tar.getmember(f"state/{PC}.sqlite").offset_data
    data = bytearray(archive.read_bytes())
    data[offset + 3000] ^= 0x40
    archive.write_bytes(bytes(data))
    target = str(served.root / "o")
    ran = silian("state", "restore", "--from", str(archive), "--state", target, "--quiet")
    _one_line_error(ran, 1, "backup pucheng.tar:", f"{PC}.sqlite is damaged or altered")
    assert not (served.root / "o" / PC).exists()


def test_a_state_folder_not_empty_needs_force(served: Setup, silian: Callable[..., Ran]) -> None:
    archive = served.root / "pucheng.tar"
    assert silian("state", "backup", "--agency", PC, "--out", str(archive)).code == 0
    ran = silian("state", "restore", "--from", str(archive), "--quiet")  # into $SILIAN_STATE_DIR
    _one_line_error(ran, 2, f"state folder {served.state / PC} is not empty", "--force")
    ran = silian("state", "restore", "--from", str(archive), "--quiet", "--force", "--json")
    assert ran.code == 0, ran.err
    assert Path(ran.json()["moved_aside"]).parent == served.state / PC


def test_a_state_folder_in_use_is_exit_3(served: Setup, silian: Callable[..., Ran]) -> None:
    archive = served.root / "pucheng.tar"
    assert silian("state", "backup", "--agency", PC, "--out", str(archive)).code == 0
    layout = Layout(schema="CREATE TABLE IF NOT EXISTS effects (x)")
    with contextlib.closing(connect(served.state / PC / "effects.sqlite", layout)):  # serve's
        ran = silian("state", "restore", "--from", str(archive), "--force", "--quiet")
    _one_line_error(ran, 3, "is in use: effects.sqlite open in another process")


_BAD_INPUT = [
    (["state", "backup", "--out", "x.tar"], 2, "which agency is this?"),
    (["state", "backup", "--agency", examples.GUANGFENG, "--out", "x.tar"], 2, "no state of"),
    (["state", "restore", "--from", "gone.tar"], 2, "No such file or directory: gone.tar"),
    (["state", "restore", "--from", "alert.json"], 1, "is damaged (truncated, or not a tar"),
    (["state", "restore", "--from", "p.tar", "--agency", examples.JIANGSHAN], 2, f"{PC}'s, not"),
]


@pytest.mark.parametrize(("argv", "code", "words"), _BAD_INPUT)
def test_bad_input_is_one_line(
    served: Setup,
    silian: Callable[..., Ran],
    monkeypatch: pytest.MonkeyPatch,
    *,
    argv: list[str],
    code: int,
    words: str,
) -> None:
    monkeypatch.chdir(served.root)
    assert silian("state", "backup", "--agency", PC, "--out", "p.tar").code == 0
    _one_line_error(silian(*argv, "--quiet"), code, words)


@pytest.mark.parametrize("action", ["backup", "restore"])
def test_help(silian: Callable[..., Ran], action: str) -> None:
    with pytest.raises(SystemExit) as done:
        silian("state", action, "--help")
    assert done.value.code == 0
