"""``deploy/systemd/silian-serve@.service``: systemd accepts it, its hardening scores well,
and the command and environment it gives ``silian serve`` really work — run here as the
unit would run it (its Environment=, the example environment file, its ExecStart), without
systemd, against a federation the setup script made."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from contracts import examples
from contracts.alerts import AlertIssued
from tests.unit.deploy.conftest import BIN, PASSPHRASES, ROOT, Site, tool_env

SYSTEMD = ROOT / "deploy" / "systemd"
UNIT = SYSTEMD / "silian-serve@.service"
ENV_EXAMPLE = SYSTEMD / "silian-serve.env.example"
INSTALLED_AT = "/opt/silian/bin/silian"


def _entries(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of every assignment, in order (keys repeat in a unit)."""
    section, found = "", []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def _values(key: str) -> list[str]:
    return [v for _, k, v in _entries(UNIT) if k == key]


def _needs(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        if os.environ.get("SILIAN_REQUIRE_SYSTEMD") == "1":
            pytest.fail(f"SILIAN_REQUIRE_SYSTEMD=1 but {tool} is not installed (Debian: systemd)")
        pytest.skip(f"{tool} is not installed (Debian's systemd package has it)")
    return found


def _local_copy(tmp_path: Path) -> Path:
    """The unit with its ExecStart pointing at this checkout's silian (verify checks that
    the program exists), under its own name, for systemd-analyze."""
    text = UNIT.read_text(encoding="utf-8")
    assert f"ExecStart={INSTALLED_AT} " in text
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(INSTALLED_AT, str(BIN / "silian")), encoding="utf-8")
    return tmp_path / "silian-serve@jiangshan.service"  # an instance of the template


def test_systemd_analyze_verify_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    tool = _needs("systemd-analyze")
    ran = subprocess.run(
        [tool, "verify", str(_local_copy(tmp_path))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == "", ran.stderr  # an unknown or misspelt key is only a warning


def test_its_exposure_stays_low(tmp_path: Path) -> None:
    """systemd-analyze security scores 0 (locked down) to 10; the unit must stay <= 2."""
    tool = _needs("systemd-analyze")
    ran = subprocess.run(
        [tool, "security", "--offline=true", "--threshold=20", str(_local_copy(tmp_path))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr


def test_the_hardening_the_docs_promise() -> None:
    settings = {k: v for _, k, v in _entries(UNIT)}
    for key, value in {
        "User": "silian",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "Restart": "on-failure",
        "RestartPreventExitStatus": "2",
        "StateDirectoryMode": "0700",
        "UMask": "0077",
        "CapabilityBoundingSet": "",
    }.items():
        assert settings[key] == value, key
    assert _values("EnvironmentFile") == ["%E/silian/%i.env"]
    # The state folder silian is told of is the one systemd makes and lets it write.
    assert "SILIAN_STATE_DIR=%S/silian/%i" in _values("Environment")
    assert _values("StateDirectory") == ["silian/%i"]
    assert "%S/silian/%i" in _values("ReadWritePaths")[0].split()


def test_the_sysusers_file_makes_the_units_user(tmp_path: Path) -> None:
    tool = _needs("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    conf = SYSTEMD / "silian.sysusers.conf"
    ran = subprocess.run(
        [tool, f"--root={tmp_path}", str(conf)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    users = {
        line.split(":")[0]: line.split(":")
        for line in (tmp_path / "etc" / "passwd").read_text(encoding="utf-8").splitlines()
    }
    assert users["silian"][5:] == ["/var/lib/silian", "/usr/sbin/nologin"]


def _specifiers(value: str, root: Path, instance: str) -> str:
    for spec, path in (("%E", "etc"), ("%S", "var/lib"), ("%L", "var/log")):
        value = value.replace(spec, str(root / path))
    return value.replace("%i", instance)


def _unit_environment(root: Path, instance: str) -> dict[str, str]:
    """What systemd would hand ``serve``: the unit's Environment=, then the environment
    file's (the example's)."""
    env: dict[str, str] = {}
    for value in _values("Environment"):
        key, _, setting = _specifiers(value, root, instance).partition("=")
        env[key] = setting
    env.update({key: value for _, key, value in _entries(ENV_EXAMPLE)})
    return env


def _example_log_file() -> Path:
    """The log file the example suggests (commented out): in the unit's LogsDirectory."""
    line = next(
        line
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line.startswith("#SILIAN_LOG_FILE=")
    )
    path = Path(line.partition("=")[2])
    assert _values("LogsDirectory") == ["silian"]
    assert path.parent == Path("/var/log/silian")
    return path


def test_the_environment_file_sets_only_what_silian_reads() -> None:
    documented = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    names = [k for _, k, _ in _entries(ENV_EXAMPLE)] + ["SILIAN_LOG_FILE"]
    names += [v.partition("=")[0] for v in _values("Environment")]
    for name in names:
        if name != "SILIAN_SERVE_ARGS":  # the unit's own: its ExecStart splits it into flags
            assert f"`{name}`" in documented, name


def _publish_an_alert(site: Site, tmp_path: Path) -> str:
    issued = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    alert = issued.model_copy(update={"alert_id": "JS-ALERT-UNIT-0001"})
    data = tmp_path / "alert.json"
    data.write_text(alert.model_dump_json(), encoding="utf-8")
    ran = subprocess.run(
        ["silian", "publish", str(data), "--type", "alert.issued", "--json"],
        env=tool_env(
            SILIAN_AGENCY=examples.JIANGSHAN,
            SILIAN_KEY_DIR=str(site.members / examples.JIANGSHAN),
            SILIAN_KEY_PASSPHRASE=PASSPHRASES[examples.JIANGSHAN],
            SILIAN_AGREEMENT_DIR=str(site.agreement),
            SILIAN_STATE_DIR=str(tmp_path / "jiangshan-state"),
            SILIAN_EMBEDDED=str(site.embedded),
        ),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    return str(json.loads(ran.stdout)["event_id"])


def test_serve_runs_as_the_unit_starts_it_and_logs_to_its_file(site: Site, tmp_path: Path) -> None:
    event_id = _publish_an_alert(site, tmp_path)
    instance, code = "pucheng", examples.PUCHENG
    passphrase = PASSPHRASES[code]
    # What an operator puts in place (docs/operations.md) and systemd makes (0700).
    shutil.copytree(site.members / code, tmp_path / "etc/silian/pucheng/keys")
    shutil.copytree(site.agreement, tmp_path / "etc/silian/agreement")
    for made in ("var/lib/silian/pucheng", "var/log/silian"):
        (tmp_path / made).mkdir(parents=True, mode=0o700)
    env = {
        **tool_env(),
        **_unit_environment(tmp_path, instance),
        "SILIAN_AGENCY": code,
        "SILIAN_KEY_PASSPHRASE": passphrase,
        "SILIAN_EMBEDDED": str(site.embedded),  # instead of the example's brokers
        "SILIAN_SERVE_ARGS": "--log-level DEBUG",  # Pucheng keeps no log; DEBUG says most
        "SILIAN_LOG_FILE": str(tmp_path / "var/log/silian" / _example_log_file().name),
    }
    del env["SILIAN_KAFKA_BOOTSTRAP"], env["SILIAN_LISTEN"]
    command = [
        word
        for token in shlex.split(_values("ExecStart")[0])
        for word in (env["SILIAN_SERVE_ARGS"].split() if token == "$SILIAN_SERVE_ARGS" else [token])
    ]
    assert command[0] == INSTALLED_AT
    command[0] = str(BIN / "silian")
    ran = subprocess.run(
        [*command, "--once"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert ran.returncode == 0, ran.stderr

    # The state went where the unit said: systemd's StateDirectory, nowhere else.
    effects = tmp_path / "var/lib/silian/pucheng" / code / "effects.sqlite"
    with sqlite3.connect(effects) as db:
        ids = {row[0] for row in db.execute("SELECT ce_id FROM effects")}
    assert event_id in ids

    log_file = Path(env["SILIAN_LOG_FILE"])
    assert log_file.parent == tmp_path / "var/log/silian"
    assert log_file.stat().st_mode & 0o777 == 0o600
    lines = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    events = [line["event"] for line in lines]
    assert "serve.ready" in events
    assert "serve.delivered" in events
    assert any(line["level"] == "debug" for line in lines)  # the level SERVE_ARGS gave
    assert all(line["timestamp"].endswith("+08:00") for line in lines)
    # The same lines went to stderr (the journal) as well.
    assert len(ran.stderr.splitlines()) == len(lines)
    for text in (log_file.read_text(encoding="utf-8"), ran.stderr):
        assert passphrase not in text
