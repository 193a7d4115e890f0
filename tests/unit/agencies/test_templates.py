from __future__ import annotations

from pathlib import Path

import pytest

from agencies import (
    FEDERATIONS,
    AgreementError,
    KeyStore,
    init_agreement,
    load_template,
    verify_agreement,
)

from .conftest import JIANGSHAN, T0


@pytest.mark.parametrize("name", FEDERATIONS)
def test_shipped_templates_load_and_hold_no_key(name: str):
    template = load_template(name)
    assert template.federation_id == name
    source = (Path(__file__).parents[3] / "agencies" / "federations" / f"{name}.toml").read_text()
    assert "-----BEGIN" not in source
    assert "public_key" not in source


def test_jpg_is_the_three_bureaus_and_sanshan_six_bodies():
    assert load_template("jpg").members == ("330881000000", "350722000000", "361103000000")
    assert len(load_template("sanshan").members) == 6


def test_unknown_or_bad_template_is_refused(tmp_path: Path):
    with pytest.raises(AgreementError, match="no federation template"):
        load_template("atlantis")
    bad = tmp_path / "bad.toml"
    bad.write_text('federation_id = "x!"\n')
    with pytest.raises(AgreementError, match="federation_id"):
        load_template(bad)
    bad.write_text("= nope")
    with pytest.raises(AgreementError, match="not valid TOML"):
        load_template(bad)


def test_init_keeps_existing_keys_and_makes_missing_ones(keystore: KeyStore):
    pair = keystore.new(JIANGSHAN, now=T0)
    document, unsigned = init_agreement(load_template("jpg"), keystore, T0)
    assert unsigned == ("330881000000", "350722000000", "361103000000")
    assert keystore.records(JIANGSHAN) == (pair.signing, pair.sealing)
    assert len(keystore.records()) == 6
    with pytest.raises(AgreementError, match="has not signed"):
        verify_agreement(document, [])
