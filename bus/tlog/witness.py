"""A witness: cosigns a log's checkpoint only if it extends the last one it cosigned.

Each other agency's service runs one (DESIGN.md "Audit"). For every new checkpoint of an
origin the witness, in order:

1. verifies the log's signature on the note (key name = origin);
2. refuses a smaller tree than the last it saw (a rollback) — as a **split view** when it
   cosigned another root for that size before (it remembers the last 4096 sizes);
3. refuses the same size with another root — a **split view**: the log has shown two
   histories; the refusal is logged as an error with both roots, and raised;
4. verifies the consistency proof from its last (size, root) to the new one (RFC 9162);
5. records the new checkpoint durably *before* returning its cosignature.

The state (last checkpoint per origin, with its note as evidence) is a small JSON file,
written atomically, so a restarted witness never cosigns a fork of what it saw.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agencies.keys import SigningKey, VerifyKey
from bus.errors import CheckpointError, InconsistentCheckpointError, ProofError, SplitViewError
from bus.logs import get_logger
from bus.state.private import check_private, private_folder, write_private
from bus.tlog.checkpoint import Checkpoint, Cosigner, SignedNote, open_checkpoint
from bus.tlog.merkle import verify_consistency

__all__ = ["Witness", "WitnessedHead", "witness_name"]

log = get_logger("silian.audit.witness")

_HISTORY = 4096  # (size, root) pairs remembered per origin, to recognise an older split view


def witness_name(federation: str, agency: str) -> str:
    """The cosigner key name of an agency's witness."""
    return f"silian/{federation}/witness/{agency}"


@dataclass(frozen=True, kw_only=True, slots=True)
class WitnessedHead:
    size: int
    root: bytes
    note: bytes


class Witness:
    """One agency's witness over the logs whose checkpoints ``log_keys`` sign."""

    def __init__(
        self, *, name: str, key: SigningKey, log_keys: Iterable[VerifyKey], state_path: Path
    ) -> None:
        self._cosigner = Cosigner(name, key)
        self._log_keys = tuple(log_keys)
        self._path = state_path
        self._history: dict[str, dict[int, bytes]] = {}
        self._heads = self._load()

    @property
    def name(self) -> str:
        return self._cosigner.name

    def head(self, origin: str) -> WitnessedHead | None:
        return self._heads.get(origin)

    def cosigned_root(self, origin: str, size: int) -> bytes | None:
        """The root this witness cosigned for ``size`` of ``origin`` (recent sizes only)."""
        return self._history.get(origin, {}).get(size)

    def cosign(self, note: bytes, proof: Sequence[bytes], *, timestamp: int) -> SignedNote:
        """The note with this witness's cosignature added; raises if it must not be signed.

        ``proof`` proves consistency from the last checkpoint this witness cosigned for the
        origin to this one (empty for the first checkpoint seen of an origin).
        """
        # 1. the log's own signature
        checkpoint, parsed = open_checkpoint(note, self._log_keys)
        last = self._heads.get(checkpoint.origin)
        if last is not None:
            # 2. never backwards (and never another root for a size cosigned before)
            earlier = self.cosigned_root(checkpoint.origin, checkpoint.size)
            if checkpoint.size < last.size and earlier not in (None, checkpoint.root):
                self._refuse(
                    SplitViewError(
                        f"SPLIT VIEW on {checkpoint.origin}: the log signed two different roots "
                        f"for size {checkpoint.size} ({(earlier or b'').hex()[:16]}… cosigned "
                        f"before, {checkpoint.root.hex()[:16]}… now); refusing to cosign"
                    ),
                    checkpoint,
                    last,
                )
            if checkpoint.size < last.size:
                self._refuse(
                    InconsistentCheckpointError(
                        f"{checkpoint.origin}: checkpoint of size {checkpoint.size} is older "
                        f"than size {last.size} already cosigned: a rollback"
                    ),
                    checkpoint,
                    last,
                )
            # 3. same size, other root: a split view
            if checkpoint.size == last.size and checkpoint.root != last.root:
                self._refuse(
                    SplitViewError(
                        f"SPLIT VIEW on {checkpoint.origin}: the log signed two different roots "
                        f"for size {checkpoint.size} ({last.root.hex()[:16]}… cosigned before, "
                        f"{checkpoint.root.hex()[:16]}… now); refusing to cosign"
                    ),
                    checkpoint,
                    last,
                )
            # 4. the new tree extends the old one
            try:
                verify_consistency(last.size, checkpoint.size, last.root, checkpoint.root, proof)
            except ProofError as error:
                self._refuse(
                    InconsistentCheckpointError(
                        f"{checkpoint.origin}: size {checkpoint.size} is not consistent with "
                        f"size {last.size} cosigned before: {error}"
                    ),
                    checkpoint,
                    last,
                )
        # 5. remember, durably, then cosign
        self._heads[checkpoint.origin] = WitnessedHead(
            size=checkpoint.size, root=checkpoint.root, note=note
        )
        history = self._history.setdefault(checkpoint.origin, {})
        history[checkpoint.size] = checkpoint.root
        while len(history) > _HISTORY:
            del history[min(history)]
        self._save()
        cosigned = parsed.with_signature(self._cosigner.cosign(checkpoint, timestamp=timestamp))
        log.info(
            "witness.cosigned",
            origin=checkpoint.origin,
            size=checkpoint.size,
            root=checkpoint.root.hex(),
        )
        return cosigned

    def _refuse(self, error: CheckpointError, checkpoint: Checkpoint, last: WitnessedHead) -> None:
        log.error(
            "witness.refused",
            witness=self.name,
            origin=checkpoint.origin,
            detail=str(error),
            seen_size=last.size,
            seen_root=last.root.hex(),
            new_size=checkpoint.size,
            new_root=checkpoint.root.hex(),
        )
        raise error

    # -- state ------------------------------------------------------------------------------

    def _load(self) -> dict[str, WitnessedHead]:
        if not self._path.exists():
            return {}
        check_private(self._path)  # a ConfigError, not the ValueError of damaged state
        try:
            raw = json.loads(self._path.read_bytes())
            self._history = {
                origin: {int(size): base64.b64decode(root) for size, root in sizes.items()}
                for origin, sizes in raw.get("history", {}).items()
            }
            return {
                origin: WitnessedHead(
                    size=int(item["size"]),
                    root=base64.b64decode(item["root"]),
                    note=base64.b64decode(item["note"]),
                )
                for origin, item in raw["heads"].items()
            }
        except (ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f"witness state {self._path} is unreadable: {error}") from None

    def _save(self) -> None:
        payload = {
            "format": "silian-witness-v1",
            "heads": {
                origin: {
                    "size": head.size,
                    "root": base64.b64encode(head.root).decode(),
                    "note": base64.b64encode(head.note).decode(),
                }
                for origin, head in sorted(self._heads.items())
            },
            "history": {
                origin: {str(size): base64.b64encode(root).decode() for size, root in sizes.items()}
                for origin, sizes in sorted(self._history.items())
            },
        }
        private_folder(self._path.parent)
        write_private(self._path, json.dumps(payload, indent=1) + "\n")
