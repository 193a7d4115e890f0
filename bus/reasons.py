"""Why a record is refused, or what an auditor finds wrong: one vocabulary.

The consumer quarantines a record with a :class:`Reason`; the auditor reports an anomaly
of the same :class:`Reason` where it means the same thing (a tombstone, a bad signature,
a gap in a chain), and with one of its own where only a whole history can show it (a
reorder, a split view, a checkpoint that does not match). :attr:`Reason.meaning` says each
in a sentence. A receipt's ``rejected`` answer has its own, older vocabulary on the wire
(``contracts.receipts.RejectReason``): it says why a local system refused an event it
verified, not why a record failed the pipeline.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Reason"]


class Reason(StrEnum):
    """Every reason a record is refused, and every finding of an audit."""

    # -- one record, on its own (the pipeline's steps; consumer and auditor alike)
    NO_VALUE = "no-value"
    UNTRUSTED_TIME = "untrusted-time"
    OVERSIZED = "oversized"
    MALFORMED_HEADERS = "malformed-headers"
    TIME_SKEW = "time-skew"
    NOT_A_MEMBER = "not-a-member"
    UNKNOWN_KEY = "unknown-key"
    KEY_REVOKED = "key-revoked"
    KEY_OUT_OF_WINDOW = "key-out-of-window"
    BAD_SIGNATURE = "bad-signature"
    UNKNOWN_TYPE = "unknown-type"
    NOT_PERMITTED = "not-permitted"
    TOO_DEEP = "too-deep"
    NOT_JSON = "not-json"
    SCHEMA_INVALID = "schema-invalid"
    SEALED_NOT_FOR_US = "sealed-not-for-us"
    LIFECYCLE = "lifecycle"
    UNPROCESSABLE = "unprocessable"
    # -- a record's place in its chain
    CHAIN_MISPLACED = "chain-misplaced"
    SEQUENCE_GAP = "sequence-gap"
    CHAIN_FORK = "chain-fork"
    DUPLICATE = "duplicate"
    REORDERED = "reordered"  # audit: a seq skipped turns up later
    # -- a receipt against what its issuer published (consumer: the issuer; and the audit)
    RECEIPT_MISMATCH = "receipt-mismatch"
    EQUIVOCATION = "equivocation"  # audit: two different records under one event id
    # -- the consumer's own
    HANDLER_FAILED = "handler-failed"
    MALFORMED_NOTE = "malformed-note"  # a witness: not a checkpoint the keeper signed
    # -- the transparency log (audit)
    SPLIT_VIEW = "split-view"
    CHECKPOINT_MISMATCH = "checkpoint-mismatch"
    CHECKPOINT_AHEAD = "checkpoint-ahead"
    CHECKPOINT_INVALID = "checkpoint-invalid"
    BAD_AGREEMENT = "bad-agreement"  # the agreement topic: a version that does not verify

    @property
    def meaning(self) -> str:
        """What it means, in a sentence."""
        return _MEANINGS[self]

    @property
    def curable(self) -> bool:
        """Whether a later agreement version can cure it (a key or a member the version in
        force at the record's time declares, once that version arrives): such a record is
        judged again when one does (:mod:`bus.node.rejudge`)."""
        return self in _CURABLE

    @property
    def releasable(self) -> bool:
        """Whether an officer may release a record refused with it (``silian quarantine
        release``, :mod:`bus.node.release`): a refusal about when, in what order or after
        what the record came, or about this agency's own local system — never one about
        who signed it, what it holds, or whether it may be read here."""
        return self in _RELEASABLE

    @property
    def by_subscription(self) -> bool:
        """Whether an agency's subscription refuses (and quarantines) a record with it;
        the others are found only by an audit of a whole history, by a witness, or by the
        agreement feed (``bad-agreement``)."""
        return self not in _NOT_THE_SUBSCRIPTIONS


_NOT_THE_SUBSCRIPTIONS = frozenset(
    {
        Reason.REORDERED,
        Reason.EQUIVOCATION,
        Reason.MALFORMED_NOTE,
        Reason.SPLIT_VIEW,
        Reason.CHECKPOINT_MISMATCH,
        Reason.CHECKPOINT_AHEAD,
        Reason.CHECKPOINT_INVALID,
        Reason.BAD_AGREEMENT,
    }
)

_CURABLE = frozenset({Reason.UNKNOWN_KEY, Reason.NOT_A_MEMBER})

_RELEASABLE = frozenset(
    {Reason.TIME_SKEW, Reason.SEQUENCE_GAP, Reason.LIFECYCLE, Reason.HANDLER_FAILED}
)

_MEANINGS: dict[Reason, str] = {
    Reason.NO_VALUE: "the record has no value (a tombstone): nothing was signed",
    Reason.UNTRUSTED_TIME: "the record's time was set by its producer, not by the broker",
    Reason.OVERSIZED: "the record exceeds a size limit (value, key or headers)",
    Reason.MALFORMED_HEADERS: "the record's headers are malformed",
    Reason.TIME_SKEW: "the signed time is far from the broker's append time",
    Reason.NOT_A_MEMBER: "published by an agency that was not a member at the time",
    Reason.UNKNOWN_KEY: "signed with a key the agreement does not declare",
    Reason.KEY_REVOKED: "signed with a key after it was revoked",
    Reason.KEY_OUT_OF_WINDOW: "signed with a key outside its validity window",
    Reason.BAD_SIGNATURE: "the signature does not verify: value or signed headers were altered",
    Reason.UNKNOWN_TYPE: "the event type is not in the contracts",
    Reason.NOT_PERMITTED: "the agreement in force did not let the issuer publish this",
    Reason.TOO_DEEP: "the value nests arrays and objects deeper than the limit",
    Reason.NOT_JSON: "the value is not JSON",
    Reason.SCHEMA_INVALID: "the value does not match its contract",
    Reason.SEALED_NOT_FOR_US: "the sealed value is not addressed to this agency",
    Reason.LIFECYCLE: "the event makes no sense after what came before",
    Reason.UNPROCESSABLE: "judging the record failed in a way not foreseen (a defect to report)",
    Reason.CHAIN_MISPLACED: "the chain id does not belong to this agency or partition",
    Reason.SEQUENCE_GAP: "records of the chain are missing (deleted or withheld)",
    Reason.CHAIN_FORK: "two different records claim the same place in a chain",
    Reason.DUPLICATE: "a record is replayed: the same signed record appears again",
    Reason.REORDERED: "a record of the chain arrives out of order",
    Reason.RECEIPT_MISMATCH: "a receipt names a record hash that is not the record its issuer "
    "published under that event id",
    Reason.EQUIVOCATION: "the issuer signed two different records under one event id",
    Reason.HANDLER_FAILED: "the agency's handler failed on the event, or refused it",
    Reason.MALFORMED_NOTE: "not a checkpoint note the log keeper signed",
    Reason.SPLIT_VIEW: "the log signed two different histories of the same size",
    Reason.CHECKPOINT_MISMATCH: "the records do not reproduce a signed checkpoint's root",
    Reason.CHECKPOINT_AHEAD: "a signed checkpoint covers records missing from this history",
    Reason.CHECKPOINT_INVALID: "a checkpoint or cosignature does not verify",
    Reason.BAD_AGREEMENT: "an agreement version that does not verify or does not follow",
}
