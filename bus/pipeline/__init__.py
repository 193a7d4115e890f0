"""One pipeline of trust: the numbered steps of docs/wire-format.md, in one room.

The consumer (:mod:`bus.node.consume`), the record-by-record audit and the range-by-range
audit (:mod:`bus.audit.examine`) all run these steps; trusting a cosigned checkpoint is a
parameter of the same steps (``verify_record(..., checkpointed=True)``), never a copy.

========  ================================================  =============================
step      what                                              where
========  ================================================  =============================
1–6       shape, headers, issuer, key, signature, fields    :func:`verify_record`
7         placement and place in the chain                  :mod:`bus.pipeline.chain`
8         contract known, publisher (and reader) permitted  :func:`event_spec`,
                                                            :func:`authorise`
9         depth, unseal, JSON, contract, subject, topic     :func:`decode`
10        lifecycle; a receipt names a record its issuer    :func:`judge_lifecycle`,
          published                                         :func:`check_answer`
========  ================================================  =============================
"""

from __future__ import annotations

from bus.pipeline.answer import check_answer, check_named
from bus.pipeline.chain import GENESIS, Place, check_placement, place
from bus.pipeline.event import (
    Decoded,
    authorise,
    check_json_depth,
    decode,
    event_spec,
    judge_lifecycle,
)
from bus.pipeline.policy import SEQ_MAX, VerifyPolicy
from bus.pipeline.record import VerifiedRecord, parse_seq, verify_record
from bus.pipeline.total import described, judged

__all__ = [
    "GENESIS",
    "SEQ_MAX",
    "Decoded",
    "Place",
    "VerifiedRecord",
    "VerifyPolicy",
    "authorise",
    "check_answer",
    "check_json_depth",
    "check_named",
    "check_placement",
    "decode",
    "described",
    "event_spec",
    "judge_lifecycle",
    "judged",
    "parse_seq",
    "place",
    "verify_record",
]
