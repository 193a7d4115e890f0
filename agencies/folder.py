"""An agreement folder on disk: every version of one federation's agreement, in order.

Layout (one folder per version, named after the document's ``version`` field)::

    agreement/
      v1/agreement.json     the exact bytes every member signed
      v1/signatures.json    one detached signature per member
      v2/agreement.json     previous_digest = SHA-256 of v1/agreement.json
      v2/signatures.json
      ...

Old versions are never rewritten: a record is judged against the version in force at its
time, so an auditor needs all of them. Only the newest version collects signatures.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from agencies.agreement import Agreement
from agencies.errors import AgreementError, AgreementVerificationError
from agencies.history import AgreementHistory
from agencies.signatures import (
    AgreementSignature,
    dump_signatures,
    load_signatures,
    parse_agreement,
)

__all__ = ["AgreementFolder"]

DOCUMENT_FILE: Final = "agreement.json"
SIGNATURES_FILE: Final = "signatures.json"
_VERSION_DIR = re.compile(r"^v([1-9][0-9]{0,5})$")


class AgreementFolder:
    """Reads and writes the versioned layout above; verification is :class:`AgreementHistory`'s."""

    def __init__(self, directory: Path) -> None:
        self._dir = Path(directory)

    def __repr__(self) -> str:
        return f"AgreementFolder({str(self._dir)!r})"

    @property
    def directory(self) -> Path:
        return self._dir

    def version_dir(self, version: int) -> Path:
        return self._dir / f"v{version}"

    def document_path(self, version: int) -> Path:
        return self.version_dir(version) / DOCUMENT_FILE

    def signatures_path(self, version: int) -> Path:
        return self.version_dir(version) / SIGNATURES_FILE

    # -- reading --------------------------------------------------------------------------

    def versions(self) -> tuple[int, ...]:
        """Version numbers present (folders ``v<N>`` holding an ``agreement.json``), sorted."""
        if not self._dir.is_dir():
            return ()
        found = []
        for entry in self._dir.iterdir():
            match = _VERSION_DIR.fullmatch(entry.name)
            if match and (entry / DOCUMENT_FILE).is_file():
                found.append(int(match.group(1)))
        return tuple(sorted(found))

    def latest_version(self) -> int:
        """The newest version number; AgreementError (saying what to run) when there is none."""
        versions = self.versions()
        if versions:
            return versions[-1]
        if (self._dir / DOCUMENT_FILE).is_file():
            # The layout before versioned folders: say how to move, do not guess.
            raise AgreementError(
                f"{self._dir} holds a single {DOCUMENT_FILE}; move it and {SIGNATURES_FILE} "
                f"into {self.version_dir(1)}/"
            )
        raise AgreementError(
            f"no agreement in {self._dir} (no v1/{DOCUMENT_FILE}); "
            "run: silian agreement init --federation …"
        )

    def read(self, version: int) -> tuple[bytes, tuple[AgreementSignature, ...]]:
        """The exact document bytes of ``version`` and its signatures (none if no file yet)."""
        path = self.document_path(version)
        try:
            document = path.read_bytes()
        except FileNotFoundError:
            raise AgreementError(f"no {path}") from None
        except OSError as error:
            raise AgreementError(f"cannot read {path}: {error.strerror or error}") from None
        sig_path = self.signatures_path(version)
        if not sig_path.exists():
            return document, ()
        try:
            return document, load_signatures(sig_path.read_bytes())
        except OSError as error:
            raise AgreementError(f"cannot read {sig_path}: {error.strerror or error}") from None
        except AgreementError as error:
            raise AgreementError(f"{sig_path}: {error}") from None

    def parse(self, version: int) -> Agreement:
        """Parse (not verify) one version, naming its file on error."""
        document, _ = self.read(version)
        with _naming(self.document_path(version)):
            return parse_agreement(document)

    def add_to(self, history: AgreementHistory, version: int) -> Agreement:
        """Verify ``version`` and append it to ``history``; errors name the version's folder."""
        document, signatures = self.read(version)
        with _naming(self.version_dir(version)):
            agreement = history.add(document, signatures)
            if agreement.version != version:
                raise AgreementError(f"the document says it is {agreement.label}")
        return agreement

    def history(self) -> AgreementHistory:
        """Every version verified in order; the first failure raises, naming its folder."""
        history = AgreementHistory()
        self.latest_version()  # a clear error for an empty folder
        for version in self.versions():
            self.add_to(history, version)
        return history

    def signed_history(self) -> AgreementHistory:
        """As :meth:`history`, leaving out a newest version still collecting signatures:
        what a service starts on while the members sign the next version (it takes that
        version up from the agreement topic once it is signed and published)."""
        versions = self.versions()
        history = AgreementHistory()
        self.latest_version()
        for version in versions:
            if version == versions[-1] and version > 1 and self._collecting(version):
                break
            self.add_to(history, version)
        return history

    def _collecting(self, version: int) -> bool:
        """Some member of ``version`` has not signed it yet (whatever else is wrong with it
        is for :meth:`add_to` to say)."""
        try:
            document, signatures = self.read(version)
            members = parse_agreement(document).members
        except AgreementError:
            return False
        signed = {s.signer for s in signatures}
        return any(m.code not in signed for m in members)

    # -- writing --------------------------------------------------------------------------

    def write_version(self, document: bytes) -> int:
        """Write a new version's bytes (and an empty signature file); its number is returned.

        Refuses to overwrite: a written version is only ever added to, by signatures.
        """
        version = parse_agreement(document).version
        path = self.document_path(version)
        if path.exists():
            raise AgreementError(f"{path} exists; versions are never rewritten")
        self.version_dir(version).mkdir(parents=True, exist_ok=True)
        _write_atomic(path, document)
        _write_atomic(self.signatures_path(version), dump_signatures(()))
        return version

    def write_signatures(self, version: int, signatures: Iterable[AgreementSignature]) -> None:
        _write_atomic(self.signatures_path(version), dump_signatures(signatures))

    def remove_all(self) -> None:
        """Delete every version's two files (``init --force``); other files are left alone."""
        for version in self.versions():
            folder = self.version_dir(version)
            for name in (DOCUMENT_FILE, SIGNATURES_FILE):
                (folder / name).unlink(missing_ok=True)
            if not any(folder.iterdir()):
                folder.rmdir()


@contextmanager
def _naming(where: Path) -> Iterator[None]:
    """Prefix an AgreementError raised inside with ``where``, keeping its class and fields."""
    try:
        yield
    except AgreementVerificationError as error:
        raise AgreementVerificationError(
            f"{where}: {error}", member=error.member, field=error.field
        ) from None
    except AgreementError as error:
        raise AgreementError(f"{where}: {error}") from None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
