"""The CLI refuses state left open to others in one line, as it refuses an open key file."""

from __future__ import annotations

from collections.abc import Callable

from tests.unit.cli.conftest import Ran, Setup


def test_serve_refuses_an_open_state_folder_in_one_line(
    setup: Setup, silian: Callable[..., Ran]
) -> None:
    setup.state.mkdir()
    setup.state.chmod(0o755)
    ran = silian("serve", "--once", "--agency", setup.fed.members[0])
    assert ran.code == 2
    assert ran.err.count("\n") == 1
    assert f"state folder {setup.state} is open to group or others (mode 0755)" in ran.err
    assert f"run: chmod -R go= {setup.state}" in ran.err
