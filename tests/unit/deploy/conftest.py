"""A federation made the way the compose file's ``setup`` service makes it: by running
``docker/silian-setup.sh`` (the real script, with the real ``silian`` on PATH), on the
embedded transport instead of Kafka."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from contracts import examples

ROOT = Path(__file__).resolve().parents[3]
SETUP_SCRIPT = ROOT / "docker" / "silian-setup.sh"
MEMBERS = (examples.JIANGSHAN, examples.PUCHENG, examples.GUANGFENG)
PASSPHRASES = {code: f"pass-{code}-Zq8!wide" for code in MEMBERS}
BIN = Path(sys.executable).parent


def tool_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``SILIAN_`` setting, ``silian`` first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILIAN_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


@dataclass(frozen=True)
class Site:
    """Where the setup script put everything."""

    root: Path

    @property
    def agreement(self) -> Path:
        return self.root / "agreement"

    @property
    def members(self) -> Path:
        return self.root / "members"

    @property
    def embedded(self) -> Path:
        return self.root / "embedded.sqlite"

    def setup_env(self, *, passphrases: dict[str, str] = PASSPHRASES) -> dict[str, str]:
        return tool_env(
            SILIAN_AGREEMENT_DIR=str(self.agreement),
            SILIAN_SETUP_KEYS=str(self.members),
            SILIAN_EMBEDDED=str(self.embedded),
            SILIAN_STATE_DIR=str(self.root / "setup-state"),
            **{f"SILIAN_KEY_PASSPHRASE_{code}": p for code, p in passphrases.items()},
        )

    def run_setup(
        self, *, passphrases: dict[str, str] = PASSPHRASES
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", str(SETUP_SCRIPT)],
            env=self.setup_env(passphrases=passphrases),
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    made = Site(tmp_path_factory.mktemp("site"))
    ran = made.run_setup()
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return made
