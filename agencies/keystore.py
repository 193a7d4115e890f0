"""A key store on a folder: private keys as PKCS8 PEM files (mode 0600), public records as JSON.

Layout::

    KEYDIR/                 mode 0700
      keys.json             every public KeyRecord known here (own and imported), sorted
      private/              mode 0700
        <agency>_<alg>_<fingerprint>.pem   mode 0600, optionally passphrase-encrypted

A private key file readable by group or others is refused, not repaired: the operator must
find out who could have read it. Key material never reaches a log line or an error.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog
from pydantic import TypeAdapter, ValidationError

from agencies.errors import KeyStoreError
from agencies.keys import (
    KeyAlg,
    KeyRecord,
    SealingKey,
    SealingPublicKey,
    SigningKey,
    VerifyKey,
    newest_usable,
)
from contracts.json_depth import FILE_DEPTH, nests_deeper

__all__ = ["Imported", "KeyPair", "KeyStore"]

_log = structlog.get_logger(__name__)
_RECORDS = TypeAdapter(tuple[KeyRecord, ...])
_FORMAT = "silian-keys-v1"
_EXPORT_FORMAT = "silian-public-keys-v1"


@dataclass(frozen=True, slots=True)
class Imported:
    """What importing did with one record: ``added``, ``updated`` or ``unchanged``."""

    change: str
    record: KeyRecord


def _parse_records(data: bytes, fmt: str, lead: str, what: str) -> tuple[KeyRecord, ...]:
    """The records of a key list or export (format ``fmt``); KeyStoreError saying why not."""
    if nests_deeper(data, FILE_DEPTH):  # before json.loads recurses into it
        raise KeyStoreError(f"{lead} valid {what}: nested deeper than {FILE_DEPTH} levels")
    try:
        raw = json.loads(data)
    except ValueError as error:
        raise KeyStoreError(f"{lead} valid {what}: {error}") from None
    if not isinstance(raw, dict) or raw.get("format") != fmt:
        raise KeyStoreError(f"{lead} silian {what} ({fmt})")
    try:
        return _RECORDS.validate_python(raw.get("records"))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in ("records", *first["loc"]))
        raise KeyStoreError(f"{lead} valid {what}: {where}: {first['msg']}") from None


def _check_narrows(before: KeyRecord, after: KeyRecord, source: str) -> None:
    """KeyStoreError unless ``after`` only ends or revokes ``before`` (earlier, never later)."""
    same_key = before.model_dump(include=_IDENTITY) == after.model_dump(include=_IDENTITY)

    def not_later(old: datetime | None, new: datetime | None) -> bool:
        return old is None or (new is not None and new <= old)

    if not (
        same_key
        and not_later(before.valid_until, after.valid_until)
        and not_later(before.revoked_at, after.revoked_at)
    ):
        raise KeyStoreError(
            f"{source}: key {after.key_id} would be widened or changed, not only ended or "
            "revoked; a key's window can only narrow (nothing imported)"
        )


_IDENTITY = {"key_id", "agency", "alg", "public_key", "valid_from"}
_KEY_ID = re.compile(r"[0-9]{12}:(ed25519|x25519):[0-9a-f]{16}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise KeyStoreError(f"cannot read {path}: {error.strerror or error}") from None


def _check_pair(key_id: str, public: VerifyKey | SealingPublicKey, path: Path) -> None:
    """KeyStoreError unless ``public`` (the file's key) is the key ``key_id`` names.

    A key id ends with the fingerprint of its public key: a private key file swapped or
    copied over would sign records (or open seals) that no receiver accepts as this key's.
    """
    agency = key_id.split(":", 1)[0]
    if not hmac.compare_digest(public.key_id(agency), key_id):
        raise KeyStoreError(
            f"private key file {path} does not hold key {key_id} (its public key is "
            f"sha256:{public.fingerprint}): it was replaced or copied over. Put the right "
            "file back from a backup; if it is lost, revoke and replace the keys: silian "
            f"keys revoke --agency {agency} --reason …, then keys new and agreement next "
            "(docs/agreement.md, Revoking a key)"
        )


def _private_folder(path: Path) -> None:
    """Make ``path`` and every missing folder above it 0700 (``mkdir(mode=, parents=True)``
    gives the parents the umask's mode, and the umask may take the owner's bits)."""
    if path.is_dir():
        return
    _private_folder(path.parent)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return
    os.chmod(path, 0o700)


@dataclass(frozen=True, kw_only=True, slots=True)
class KeyPair:
    """The public records of an agency's signing and sealing keys made together."""

    signing: KeyRecord
    sealing: KeyRecord


class KeyStore:
    """Keys of one machine. ``passphrase`` encrypts new private files and opens existing ones."""

    def __init__(self, directory: Path, *, passphrase: bytes | None = None) -> None:
        self._dir = Path(directory)
        self._passphrase = passphrase or None

    def __repr__(self) -> str:
        encrypted = "encrypted" if self._passphrase else "unencrypted"
        return f"KeyStore({str(self._dir)!r}, {encrypted})"

    @property
    def directory(self) -> Path:
        return self._dir

    # -- public records -------------------------------------------------------------------

    def records(self, agency: str | None = None) -> tuple[KeyRecord, ...]:
        """Every public record here (of one agency if given), oldest first."""
        path = self._dir / "keys.json"
        if not path.exists():
            return ()
        records = _parse_records(_read(path), _FORMAT, f"{path} is not a", "key list")
        return tuple(r for r in records if agency is None or r.agency == agency)

    def record(self, key_id: str) -> KeyRecord:
        for record in self.records():
            if record.key_id == key_id:
                return record
        raise KeyStoreError(f"no key {key_id} in {self._dir}")

    def current(self, agency: str, alg: KeyAlg, *, at: datetime) -> KeyRecord:
        """The newest key of ``agency`` and ``alg`` usable at ``at``; KeyStoreError if none."""
        record = newest_usable(self.records(agency), alg, at)
        if record is None:
            raise KeyStoreError(
                f"agency {agency} has no usable {alg} key in {self._dir} at {at.isoformat()}; "
                "run: silian keys new"
            )
        return record

    def add_public(self, record: KeyRecord) -> None:
        """Import another agency's public record (e.g. to build an agreement)."""
        others = [r for r in self.records() if r.key_id != record.key_id]
        self._write_records([*others, record])

    def own_agencies(self) -> tuple[str, ...]:
        """The agencies this machine holds a private key of."""
        return tuple(sorted({r.agency for r in self.records() if self.has_private(r.key_id)}))

    def export_public(self, agencies: tuple[str, ...]) -> bytes:
        """A file of these agencies' public records, to hand to the other members.

        Only public records: the file may travel by any channel, but whoever imports it
        must confirm the key ids with the sending agency over another (a phone call):
        the fingerprint in each id is what proves whose key it is.
        """
        records = [r for r in self.records() if r.agency in agencies]
        missing = sorted(set(agencies) - {r.agency for r in records})
        if missing:
            raise KeyStoreError(f"no keys of {', '.join(missing)} in {self._dir}")
        payload = {
            "format": _EXPORT_FORMAT,
            "records": [r.model_dump(mode="json", exclude_none=True) for r in records],
        }
        return (json.dumps(payload, ensure_ascii=False, indent=2) + "\n").encode("utf-8")

    def import_public(self, data: bytes, *, source: str = "the file") -> list[Imported]:
        """Take in another agency's exported public records; all of them, or none.

        A new key is added; a known one may only *narrow*: a revocation or an earlier end
        added by its owner (never undone or widened here). A record of a key whose private
        half is on this machine is refused unless identical: this machine's own record is
        the authority on it.
        """
        incoming = _parse_records(data, _EXPORT_FORMAT, f"{source} is not a", "public key file")
        known = {r.key_id: r for r in self.records()}
        outcome: list[Imported] = []
        for record in incoming:
            before = known.get(record.key_id)
            if before == record:
                outcome.append(Imported("unchanged", record))
                continue
            if self.has_private(record.key_id):
                raise KeyStoreError(
                    f"{source}: key {record.key_id} is this machine's own; its record here "
                    "is the authority on it (nothing imported)"
                )
            if before is not None:
                _check_narrows(before, record, source)
            known[record.key_id] = record
            outcome.append(Imported("added" if before is None else "updated", record))
        if any(item.change != "unchanged" for item in outcome):
            self._write_records(list(known.values()))
        for item in outcome:
            _log.info("keys.imported", key_id=item.record.key_id, change=item.change)
        return outcome

    # -- private keys ---------------------------------------------------------------------

    def has_private(self, key_id: str) -> bool:
        return _KEY_ID.fullmatch(key_id) is not None and self._private_path(key_id).exists()

    def signing_key(self, key_id: str) -> SigningKey:
        """The private signing key ``key_id``; KeyStoreError unless its file holds just that."""
        path = self._checked_private_path(key_id)
        key = SigningKey.from_pkcs8_pem(_read(path), self._passphrase, source=str(path))
        _check_pair(key_id, key.public_key, path)
        return key

    def sealing_key(self, key_id: str) -> SealingKey:
        """The private sealing key ``key_id``; KeyStoreError unless its file holds just that."""
        path = self._checked_private_path(key_id)
        key = SealingKey.from_pkcs8_pem(_read(path), self._passphrase, source=str(path))
        _check_pair(key_id, key.public_key, path)
        return key

    # -- operations -----------------------------------------------------------------------

    def new(self, agency: str, *, now: datetime) -> KeyPair:
        """Make a signing and a sealing key for ``agency``, valid from ``now``."""
        for alg in KeyAlg:
            try:
                existing = self.current(agency, alg, at=now)
            except KeyStoreError:
                continue
            raise KeyStoreError(
                f"agency {agency} already has a usable key {existing.key_id}; "
                "use rotate to replace it"
            )
        return self._make_pair(agency, now=now, retire=())

    def rotate(self, agency: str, *, now: datetime) -> KeyPair:
        """A new pair valid from ``now``; the current pair's ``valid_until`` becomes ``now``."""
        old = tuple(self.current(agency, alg, at=now) for alg in KeyAlg)
        return self._make_pair(agency, now=now, retire=old)

    def revoke(
        self, agency: str, *, now: datetime, reason: str, key_id: str | None = None
    ) -> tuple[KeyRecord, ...]:
        """Revoke one key (or every key of ``agency`` not yet revoked) from ``now``."""
        if not reason.strip():
            raise KeyStoreError("a revocation needs a reason")
        targets = [
            r
            for r in self.records(agency)
            if r.revoked_at is None and (key_id is None or r.key_id == key_id)
        ]
        if not targets:
            what = key_id or f"agency {agency}"
            raise KeyStoreError(f"no unrevoked key to revoke for {what} in {self._dir}")
        revoked = tuple(
            r.model_copy(update={"revoked_at": now, "revocation_reason": reason}) for r in targets
        )
        by_id = {r.key_id: r for r in revoked}
        self._write_records([by_id.get(r.key_id, r) for r in self.records()])
        for record in revoked:
            _log.warning("keys.revoked", agency=agency, key_id=record.key_id, reason=reason)
        return revoked

    # -- internals ------------------------------------------------------------------------

    def _make_pair(self, agency: str, *, now: datetime, retire: tuple[KeyRecord, ...]) -> KeyPair:
        if now.tzinfo is None:
            raise KeyStoreError("key windows need a timezone-aware time")
        signing, sealing = SigningKey.generate(), SealingKey.generate()
        pair = KeyPair(
            signing=KeyRecord.for_key(agency, signing.public_key, valid_from=now),
            sealing=KeyRecord.for_key(agency, sealing.public_key, valid_from=now),
        )
        self._write_private(pair.signing.key_id, signing.to_pkcs8_pem(self._passphrase))
        self._write_private(pair.sealing.key_id, sealing.to_pkcs8_pem(self._passphrase))
        retired = {r.key_id: r.model_copy(update={"valid_until": now}) for r in retire}
        kept = [retired.get(r.key_id, r) for r in self.records()]
        self._write_records([*kept, pair.signing, pair.sealing])
        for record in (pair.signing, pair.sealing):
            _log.info("keys.created", agency=agency, key_id=record.key_id)
        return pair

    def _private_path(self, key_id: str) -> Path:
        if _KEY_ID.fullmatch(key_id) is None:  # nor a path out of the folder: ../
            raise KeyStoreError(f"{key_id!r} is not a key id (<agency>:<alg>:<16 hex>)")
        return self._dir / "private" / (key_id.replace(":", "_") + ".pem")

    def _checked_private_path(self, key_id: str) -> Path:
        path = self._private_path(key_id)
        try:
            mode = path.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            raise KeyStoreError(f"no private key for {key_id} in {self._dir}") from None
        except OSError as error:
            raise KeyStoreError(f"cannot read {path}: {error.strerror or error}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyStoreError(
                f"private key file {path} is readable by group or others "
                f"(mode {stat.S_IMODE(mode):04o}); refusing to use it. Find out who could "
                f"read it, then run: chmod 600 {path}"
            )
        return path

    def _write_private(self, key_id: str, pem: bytes) -> None:
        path = self._private_path(key_id)
        _private_folder(path.parent)
        # O_EXCL: never overwrite a key; 0600 from creation, not chmod-ed after.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)

    def _write_records(self, records: list[KeyRecord]) -> None:
        _private_folder(self._dir)
        ordered = sorted(records, key=lambda r: (r.agency, r.valid_from, r.alg, r.key_id))
        payload = {
            "format": _FORMAT,
            "records": [r.model_dump(mode="json", exclude_none=True) for r in ordered],
        }
        path = self._dir / "keys.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", "utf-8")
        tmp.replace(path)
