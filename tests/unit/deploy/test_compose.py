"""``docker/compose.yaml``: a Compose client accepts it, and what it runs is what silian
takes — three agencies' ``serve``, each with volumes of its own, probed on ``/readyz``,
started after the brokers and the one-shot setup. No Docker engine runs here: the file is
checked by ``docker compose config`` / ``docker-compose config`` and by reading it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts import examples
from tests.unit.deploy.conftest import ROOT, tool_env

COMPOSE = ROOT / "docker" / "compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
AGENCIES = {
    "jiangshan": examples.JIANGSHAN,
    "pucheng": examples.PUCHENG,
    "guangfeng": examples.GUANGFENG,
}
PASSPHRASE_VARIABLES = (
    "JIANGSHAN_KEY_PASSPHRASE",
    "PUCHENG_KEY_PASSPHRASE",
    "GUANGFENG_KEY_PASSPHRASE",
)


def _clients() -> list[list[str]]:
    """Every Compose client on this machine: Compose v2 (``docker compose``) and Debian's
    ``docker-compose`` 1.29 (what .ci/run installs)."""
    found = []
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=60, check=False
        )
        if probe.returncode == 0:
            found.append([docker, "compose"])
    legacy = shutil.which("docker-compose")
    if legacy is not None:
        found.append([legacy])
    if not found:
        reason = (
            "no Compose client (Debian: apt-get install --no-install-recommends docker-compose)"
        )
        if os.environ.get("SILIAN_REQUIRE_COMPOSE") == "1":
            pytest.fail(f"SILIAN_REQUIRE_COMPOSE=1 but {reason}")
        pytest.skip(reason)
    return found


def _config(
    client: list[str], env: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """``config -q`` with only ``env``: an empty env file stands for a docker/.env an
    operator may have written here."""
    no_env_file = tmp_path / "empty.env"
    no_env_file.write_text("", encoding="utf-8")
    return subprocess.run(
        [*client, "-f", str(COMPOSE), "--env-file", str(no_env_file), "config", "-q"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_compose_config_accepts_the_file(tmp_path: Path) -> None:
    env = tool_env(**{name: f"dummy-{name}" for name in PASSPHRASE_VARIABLES})
    for client in _clients():
        ran = _config(client, env, tmp_path)
        assert ran.returncode == 0, f"{client}: {ran.stderr}"


def test_without_the_passphrases_compose_refuses_naming_them(tmp_path: Path) -> None:
    """No passphrase, no start: keys are never made or read unencrypted by accident."""
    for client in _clients():
        ran = _config(client, tool_env(), tmp_path)
        assert ran.returncode != 0, client
        assert "_KEY_PASSPHRASE" in ran.stderr, ran.stderr


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _services() -> dict[str, Any]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """target → volume[:ro] of a service's short-syntax volumes."""
    found = {}
    for entry in service["volumes"]:
        source, target, *mode = entry.split(":")
        found[target] = source + "".join(f":{m}" for m in mode)
    return found


def _serve_flags() -> set[str]:
    ran = subprocess.run(
        [str(Path(sys.executable).with_name("silian")), "serve", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return set(re.findall(r"--[a-z][a-z-]*", ran.stdout))


def test_three_agencies_serve_with_volumes_of_their_own() -> None:
    services = _services()
    flags = _serve_flags()
    used: dict[str, str] = {}
    for name, code in AGENCIES.items():
        service = services[name]
        env = service["environment"]
        assert env["SILIAN_AGENCY"] == code
        assert env["SILIAN_KAFKA_BOOTSTRAP"] == "kafka-1:9092,kafka-2:9092,kafka-3:9092"
        mounts = _mounts(service)
        # Each folder silian is told of is a volume mounted there; the agreement read-only.
        assert mounts[env["SILIAN_KEY_DIR"]] == f"{name}-keys"
        assert mounts[env["SILIAN_STATE_DIR"]] == f"{name}-state"
        assert mounts[env["SILIAN_AGREEMENT_DIR"]] == "agreement:ro"
        for volume in (f"{name}-keys", f"{name}-state"):
            assert volume not in used, f"{volume} is {used.get(volume)}'s too"
            used[volume] = name
        command = service["command"]
        assert command[0] == "serve"
        assert {c for c in command if c.startswith("--")} <= flags
        listen = command[command.index("--listen") + 1]
        assert listen.startswith("0.0.0.0:")
        port = listen.rpartition(":")[2]
        probe = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/readyz" in probe
        assert all(p.endswith(f":{port}") and p.startswith("127.0.0.1:") for p in service["ports"])
        depends = service["depends_on"]
        assert {k: v["condition"] for k, v in depends.items()} == {
            "kafka-1": "service_healthy",
            "kafka-2": "service_healthy",
            "kafka-3": "service_healthy",
            "setup": "service_completed_successfully",
        }
        assert service["restart"] == "unless-stopped"
    keepers = [n for n in AGENCIES if "--log-keeper" in services[n]["command"]]
    assert keepers == ["jiangshan"]  # one log keeper; the others witness


def test_setup_makes_each_agencys_keys_in_that_agencys_volume() -> None:
    services = _services()
    setup = services["setup"]
    assert setup["entrypoint"] == ["silian-setup"]
    assert setup["restart"] == "no"
    mounts = _mounts(setup)
    keys_root = setup["environment"].get("SILIAN_SETUP_KEYS", "/var/lib/silian/members")
    for name, code in AGENCIES.items():
        assert mounts[f"{keys_root}/{code}"] == f"{name}-keys"
        assert f"SILIAN_KEY_PASSPHRASE_{code}" in setup["environment"]
        # The same passphrase the agency's service decrypts its keys with.
        assert (
            setup["environment"][f"SILIAN_KEY_PASSPHRASE_{code}"]
            == services[name]["environment"]["SILIAN_KEY_PASSPHRASE"]
        )
    assert mounts[setup["environment"]["SILIAN_AGREEMENT_DIR"]] == "agreement"
    assert setup["command"] == ["--replication", "3", "--min-insync", "2"]


def test_the_image_has_the_script_and_every_mount_point_owned_by_silian() -> None:
    """A new named volume takes its owner and mode from the image's folder: one missing
    there would be root's, and silian (uid 10001) could not write its keys or state."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "COPY docker/silian-setup.sh /usr/local/bin/silian-setup" in text
    made = re.search(r"install -d -o silian -g silian -m 0700 ([^&]+)", text)
    assert made is not None
    private = set(made.group(1).replace("\\", " ").split())
    targets = {t for s in _services().values() if "volumes" in s for t in _mounts(s)}
    silian_targets = {t for t in targets if t.startswith("/var/lib/silian/")}
    assert silian_targets - private == {"/var/lib/silian/agreement"}
    assert "-m 0755 /var/lib/silian/agreement" in text


def test_every_silian_variable_the_file_sets_is_one_silian_reads() -> None:
    """A misspelt variable would be ignored, and silian would fall back to a default."""
    documented = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    setup_script = (ROOT / "docker" / "silian-setup.sh").read_text(encoding="utf-8")
    for name, service in _services().items():
        for variable in service.get("environment", {}):
            if not variable.startswith("SILIAN_") or f"`{variable}`" in documented:
                continue
            # The setup script's own: each member's passphrase, by its code.
            assert name == "setup", f"{name}: {variable} is not in docs/cli.md"
            assert re.fullmatch(r"SILIAN_KEY_PASSPHRASE_\d{12}", variable), variable
            assert '--passphrase-env "SILIAN_KEY_PASSPHRASE_$code"' in setup_script


def test_named_volumes_keep_their_names_whatever_the_project() -> None:
    volumes = _compose()["volumes"]
    for key, spec in volumes.items():
        assert spec == {"name": f"silian_{key}"}
