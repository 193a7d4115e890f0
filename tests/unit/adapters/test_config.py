"""Per-agency TOML configs: paths, defaults, overrides and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.config import load_config
from bus.errors import ConfigError

EXAMPLES = Path(__file__).parents[3] / "adapters" / "examples"


def test_example_configs_load_with_paths_relative_to_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SILIAN_KAFKA_BOOTSTRAP", raising=False)
    kinds = {}
    for name in ("jiangshan", "pucheng", "guangfeng"):
        config = load_config(EXAMPLES / f"{name}.toml")
        kinds[name] = config.local.kind
        assert config.bus.keys == (EXAMPLES / "keys").resolve()
        assert config.mapping == (EXAMPLES / f"{name}.mapping.toml").resolve()
        assert config.bus.kafka is None  # embedded without a Kafka
        assert config.health_file == config.state_dir / "health.json"
    assert kinds == {"jiangshan": "rest", "pucheng": "database", "guangfeng": "filedrop"}


def test_kafka_from_environment_and_overrides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SILIAN_KAFKA_BOOTSTRAP", "127.0.0.1:9999")
    config = load_config(EXAMPLES / "jiangshan.toml")
    assert config.bus.kafka == "127.0.0.1:9999"
    changed = config.with_overrides(kafka="10.0.0.1:9092", state=tmp_path)
    assert changed.bus.kafka == "10.0.0.1:9092"
    assert changed.state_dir == tmp_path.resolve() / "330881000000"
    assert changed.local.state_dir == changed.state_dir
    assert changed.health_file.parent == changed.state_dir


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[agency]\ncode = "33"\n', "12-digit agency code"),
        ('[agency]\ncode = "330881000000"\n[local]\nkind = "rest"\n', "[mapping]: file"),
        ('[agency]\ncode = "330881000000"\n[mapping]\nfile = "m.toml"\n[local]\nkind = "ftp"\n',
         "kind must be one of rest, database, filedrop"),
        ('[agency]\ncode = "330881000000"\n[mapping]\nfile = "m.toml"\n[local]\nkind = "rest"\n'
         '[health]\nlisten = "0.0.0.0:80"\n', "loopback"),
        ('[agency]\ncode = "330881000000"\n[mapping]\nfile = "m.toml"\n[local]\nkind = "rest"\n'
         'poll_seconds = 0\n', "poll_seconds"),
        ("[agency\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_config_errors_are_one_line_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "agency.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value).strip()


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "nope.toml")
