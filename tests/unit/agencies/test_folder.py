"""AgreementFolder: the versioned layout on disk, and errors that name the version's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from agencies import (
    AgreementError,
    AgreementFolder,
    AgreementSignature,
    AgreementVerificationError,
    next_agreement,
    sign_as,
)

from .conftest import JIANGSHAN, T0, Signed

T1 = T0.replace(month=4)


def _v2(jpg: Signed) -> tuple[bytes, list[AgreementSignature]]:
    jpg.keystore.rotate(JIANGSHAN, now=T1)
    document, unsigned = next_agreement(jpg.document, jpg.keystore, T1)
    return document, [sign_as(document, signer=c, keystore=jpg.keystore) for c in unsigned]


def test_write_read_and_history(tmp_path: Path, jpg: Signed) -> None:
    folder = AgreementFolder(tmp_path / "agreement")
    assert folder.versions() == ()
    assert folder.write_version(jpg.document) == 1
    assert folder.read(1) == (jpg.document, ())  # an empty signature file comes with it
    folder.write_signatures(1, jpg.signatures)
    v2_doc, v2_sigs = _v2(jpg)
    assert folder.write_version(v2_doc) == 2
    folder.write_signatures(2, v2_sigs)
    assert (tmp_path / "agreement" / "v2" / "agreement.json").read_bytes() == v2_doc
    assert folder.versions() == (1, 2)
    assert folder.latest_version() == 2
    assert [v.version for v in folder.history().versions] == [1, 2]


def test_versions_are_never_rewritten(tmp_path: Path, jpg: Signed) -> None:
    folder = AgreementFolder(tmp_path)
    folder.write_version(jpg.document)
    with pytest.raises(AgreementError, match="never rewritten"):
        folder.write_version(jpg.document)


def test_only_version_folders_with_a_document_count(tmp_path: Path, jpg: Signed) -> None:
    folder = AgreementFolder(tmp_path)
    folder.write_version(jpg.document)
    for name in ("v0", "vx", "v01", "v3", "notes"):
        (tmp_path / name).mkdir()
    (tmp_path / "v9").write_text("a file, not a folder")
    assert folder.versions() == (1,)


def test_errors_name_the_folder_and_keep_member_and_field(tmp_path: Path, jpg: Signed) -> None:
    folder = AgreementFolder(tmp_path)
    folder.write_version(jpg.document)
    with pytest.raises(AgreementVerificationError, match="has not signed") as caught:
        folder.history()
    assert str(caught.value).startswith(f"{tmp_path / 'v1'}: jpg v1: member ")
    assert caught.value.member == JIANGSHAN
    (tmp_path / "v1" / "signatures.json").write_text('{"format": "nope"}')
    with pytest.raises(AgreementError, match=r"v1/signatures\.json: signature file: format"):
        folder.read(1)


def test_a_document_in_the_wrong_version_folder_is_refused(tmp_path: Path, jpg: Signed) -> None:
    folder = AgreementFolder(tmp_path)
    folder.write_version(jpg.document)
    folder.write_signatures(1, jpg.signatures)
    v2_doc, v2_sigs = _v2(jpg)
    (tmp_path / "v3").mkdir()
    (tmp_path / "v3" / "agreement.json").write_bytes(v2_doc)
    AgreementFolder(tmp_path).write_signatures(3, v2_sigs)
    with pytest.raises(AgreementError, match=r"v3: the document says it is jpg v2"):
        folder.history()


def test_an_empty_folder_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(AgreementError, match="silian agreement init"):
        AgreementFolder(tmp_path / "none").history()


def test_remove_all_deletes_only_the_version_files(tmp_path: Path, jpg: Signed) -> None:
    folder = AgreementFolder(tmp_path)
    folder.write_version(jpg.document)
    (tmp_path / "README").write_text("kept")
    (tmp_path / "v1" / "notes.txt").write_text("kept")
    folder.remove_all()
    assert folder.versions() == ()
    assert (tmp_path / "README").read_text() == "kept"
    assert (tmp_path / "v1" / "notes.txt").read_text() == "kept"


def test_a_service_starts_on_the_signed_versions_while_the_next_collects_signatures(
    tmp_path: Path, jpg: Signed
) -> None:
    folder = AgreementFolder(tmp_path / "agreement")
    folder.write_version(jpg.document)
    folder.write_signatures(1, jpg.signatures)
    v2_doc, v2_sigs = _v2(jpg)
    folder.write_version(v2_doc)
    folder.write_signatures(2, v2_sigs[:1])  # one member signed so far
    with pytest.raises(AgreementVerificationError, match="has not signed"):
        folder.history()  # agreement verify: not valid yet
    assert [v.version for v in folder.signed_history().versions] == [1]
    folder.write_signatures(2, v2_sigs)
    assert [v.version for v in folder.signed_history().versions] == [1, 2]
    # Signed by all but altered: not "collecting", so refused as before.
    tampered = v2_doc.replace(b'"version": 2', b'"version": 2 ', 1)
    (tmp_path / "agreement" / "v2" / "agreement.json").write_bytes(tampered)
    with pytest.raises(AgreementVerificationError):
        folder.signed_history()
