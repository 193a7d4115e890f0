"""One valid example of every event type, telling one coherent 四联 story.

Jiangshan (江山, 330881) issues an alert for a vehicle; Pucheng (浦城, 350722) reports a
hit; Jiangshan opens a joint fraud case and Pucheng and Guangfeng (广丰, 361103) join;
a land dispute on the Zhejiang–Jiangxi border is mediated and settled; a joint patrol
runs along the border; the liaison officers meet. Used by tests, the demo and benchmarks.
The story's receipts are version 2, as the bus answers; :func:`example_events` adds the
same receipts as version 1 wrote them (no record hash), a type still read.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from contracts.alerts import (
    AlertCancelled,
    AlertExtended,
    AlertHit,
    AlertIssued,
    AlertUpdated,
    CancelReason,
    VehicleSubject,
)
from contracts.base import EventModel
from contracts.cases import (
    CaseCategory,
    CaseClosed,
    CaseEvidenceShared,
    CaseLeadShared,
    CaseMemberInvited,
    CaseMemberJoined,
    CaseMemberLeft,
    CaseNote,
    CaseOpened,
    CaseOutcome,
    CaseTaskAssigned,
    CaseTaskCompleted,
)
from contracts.disputes import (
    DisputeCategory,
    DisputeClosed,
    DisputeEscalated,
    DisputeFollowedUp,
    DisputeLeadAgreed,
    DisputeMediationHeld,
    DisputeMediationScheduled,
    DisputeOutcome,
    DisputeReported,
    DisputeSettled,
    EscalationBody,
    FollowUpResult,
    MediationOutcome,
    Party,
)
from contracts.liaison import LiaisonContactUpdated, LiaisonMeeting
from contracts.patrols import PatrolPlanned, PatrolReported
from contracts.receipts import (
    ReceiptEvent,
    ReceiptHandled,
    ReceiptHandledV2,
    ReceiptReceived,
    ReceiptReceivedV2,
    ReceiptRejected,
    ReceiptRejectedV2,
    ReceiptReleased,
    RecordRef,
    RejectReason,
)
from contracts.vocab import (
    FEDERATION_TZ,
    BilingualName,
    Handling,
    HandlingCode,
    InformationAccuracy,
    Place,
    Priority,
    SourceReliability,
    Tlp,
    WarningMarker,
)

__all__ = [
    "CHANGSHAN",
    "GUANGFENG",
    "JIANGSHAN",
    "PUCHENG",
    "example_events",
    "example_story",
]

JIANGSHAN = "330881000000"
PUCHENG = "350722000000"
GUANGFENG = "361103000000"
CHANGSHAN = "330822000000"

_CST = FEDERATION_TZ
_T0 = datetime(2024, 5, 6, 9, 0, tzinfo=_CST)


def _at(hours: float) -> datetime:
    return _T0 + timedelta(hours=hours)


def _ref(source: str, ce_id: str, event_type: str) -> RecordRef:
    return RecordRef(
        ce_source=f"urn:silian:agency:{source}",
        ce_id=ce_id,
        ce_type=f"cn.silian.{event_type}.v1",
        record_hash=hashlib.sha256(f"the record of {ce_id}".encode()).hexdigest(),
    )


def _alerts() -> list[tuple[str, EventModel]]:
    alert = "JS-ALERT-2024-0117"
    return [
        (
            JIANGSHAN,
            AlertIssued(
                alert_id=alert,
                subject=VehicleSubject(
                    kind="vehicle", plate="浙H·12345", description="白色面包车，车身左侧有刮痕"
                ),
                reason="涉嫌跨省电信诈骗取款车辆 / vehicle used to collect telecom-fraud cash",
                warning_markers=(WarningMarker.ESCAPE_RISK,),
                action_on_hit="发现后跟踪并立即通报江山 / follow, notify Jiangshan at once",
                priority=Priority.URGENT,
                handling=Handling(code=HandlingCode.H1, tlp=Tlp.AMBER),
                area=("330881", "350722", "361103"),
                review_at=_at(24 * 7),
            ),
        ),
        (
            JIANGSHAN,
            AlertUpdated(
                alert_id=alert,
                summary="补充警示标记：车内可能有管制刀具 / may carry a knife",
                warning_markers=(WarningMarker.ESCAPE_RISK, WarningMarker.ARMED),
            ),
        ),
        (
            PUCHENG,
            AlertHit(
                alert_id=alert,
                hit_id="PC-HIT-0001",
                seen_at=_at(3.5),
                place=Place(division="350722", description="浦城县仙阳镇205国道卡口"),
                action_taken="卡口抓拍后布控跟踪，车辆驶向广丰 / tracked towards Guangfeng",
                source_reliability=SourceReliability.A,
                information_accuracy=InformationAccuracy.CONFIRMED,
            ),
        ),
        (
            PUCHENG,
            ReceiptReceivedV2(
                answers=_ref(JIANGSHAN, "0190a1b2-0000-7000-8000-000000000001", "alert.issued"),
                received_at=_at(0.1),
            ),
        ),
        (
            PUCHENG,
            ReceiptHandledV2(
                answers=_ref(JIANGSHAN, "0190a1b2-0000-7000-8000-000000000001", "alert.issued"),
                handled_at=_at(3.6),
                action="已在辖区卡口布控并报告命中 / plate watched at checkpoints, hit reported",
            ),
        ),
        (
            GUANGFENG,
            ReceiptRejectedV2(
                answers=_ref(JIANGSHAN, "0190a1b2-0000-7000-8000-000000000002", "alert.updated"),
                rejected_at=_at(0.5),
                reason=RejectReason.DUPLICATE,
                detail="同一更新已收到 / the same update arrived twice",
            ),
        ),
        (
            JIANGSHAN,
            AlertExtended(
                alert_id=alert,
                review_at=_at(24 * 14),
                reason="嫌疑人尚未到案 / suspect still at large",
            ),
        ),
        (
            JIANGSHAN,
            AlertCancelled(
                alert_id=alert,
                reason=CancelReason.RESOLVED,
                note="车辆已在广丰查获 / vehicle seized",
            ),
        ),
    ]


def _case() -> list[tuple[str, EventModel]]:
    case = "JS-CASE-2024-031"
    return [
        (
            JIANGSHAN,
            CaseOpened(
                case_id=case,
                lead_agency=JIANGSHAN,
                title=BilingualName(
                    zh="“5·06”跨省电信诈骗案", en="5.06 cross-province phone fraud"
                ),
                category=CaseCategory.FRAUD,
                handling=Handling(code=HandlingCode.H2, tlp=Tlp.AMBER_STRICT),
                invited=(PUCHENG,),
                summary="冒充客服诈骗，取款车辆往返三省交界 / fraud cash run across the border",
            ),
        ),
        (JIANGSHAN, CaseMemberInvited(case_id=case, agency=GUANGFENG, note="车辆在广丰落脚")),
        (PUCHENG, CaseMemberJoined(case_id=case, agency=PUCHENG, contact="林警官 138 0000 0001")),
        (GUANGFENG, CaseMemberJoined(case_id=case, agency=GUANGFENG, contact="徐警官")),
        (
            PUCHENG,
            CaseLeadShared(
                case_id=case,
                lead_id="PC-LEAD-07",
                summary="取款人使用的手机号曾在浦城登记 / the cash collector's phone is registered",
                source_reliability=SourceReliability.B,
                information_accuracy=InformationAccuracy.PROBABLY_TRUE,
            ),
        ),
        (
            GUANGFENG,
            CaseEvidenceShared(
                case_id=case,
                evidence_id="GF-EV-0003",
                reference="gf-evidence://2024/0506/cctv-0003.mp4",
                sha256=hashlib.sha256(b"cctv-0003").hexdigest(),
                custody_note="广丰分局物证室保管，经办人徐警官 / Guangfeng evidence room",
            ),
        ),
        (
            JIANGSHAN,
            CaseTaskAssigned(
                case_id=case,
                task_id="T-001",
                assignee=GUANGFENG,
                description="核查车辆停放小区的监控 / check CCTV where the van was parked",
                due_at=_at(48),
            ),
        ),
        (
            GUANGFENG,
            CaseTaskCompleted(
                case_id=case, task_id="T-001", result="已调取监控并共享证据 GF-EV-0003"
            ),
        ),
        (JIANGSHAN, CaseNote(case_id=case, note_id="N-001", text="三地联合收网定于5月9日")),
        (PUCHENG, CaseMemberLeft(case_id=case, agency=PUCHENG, reason="浦城部分工作已完成")),
        (
            JIANGSHAN,
            CaseClosed(
                case_id=case, outcome=CaseOutcome.SOLVED, summary="抓获嫌疑人3名 / 3 suspects held"
            ),
        ),
    ]


def _dispute() -> list[tuple[str, EventModel]]:
    dispute = "GF-DSP-2024-012"
    place = Place(division="361103", description="广丰区嵩峰乡与江山市廿八都镇交界山林")
    return [
        (
            GUANGFENG,
            DisputeReported(
                dispute_id=dispute,
                category=DisputeCategory.FOREST,
                parties=(
                    Party(name=BilingualName(zh="王某", en="Wang"), division="361103", role="村民"),
                    Party(
                        name=BilingualName(zh="郑某", en="Zheng"), division="330881", role="村民"
                    ),
                ),
                place=place,
                summary="两省村民因山林界址发生争执 / villagers disagree on a forest boundary",
                handling=Handling(code=HandlingCode.H0, tlp=Tlp.GREEN),
            ),
        ),
        (
            GUANGFENG,
            DisputeLeadAgreed(dispute_id=dispute, lead_agency=GUANGFENG, participants=(JIANGSHAN,)),
        ),
        (
            GUANGFENG,
            DisputeMediationScheduled(
                dispute_id=dispute,
                mediation_id="M-01",
                scheduled_at=_at(72),
                place=place,
                mediators=("广丰区嵩峰派出所 李警官", "江山市廿八都派出所 周警官"),
            ),
        ),
        (
            JIANGSHAN,
            DisputeMediationHeld(
                dispute_id=dispute,
                mediation_id="M-01",
                held_at=_at(72),
                outcome=MediationOutcome.AGREEMENT,
                summary="现场勘界，双方同意以山脊为界 / boundary set along the ridge",
            ),
        ),
        (
            GUANGFENG,
            DisputeSettled(
                dispute_id=dispute,
                agreement_text="双方以山脊为界，互不越界砍伐 / the ridge is the boundary",
                paper_record_sha256=hashlib.sha256(b"paper-record-M-01").hexdigest(),
                judicial_confirmation_requested=True,
                settled_at=_at(74),
            ),
        ),
        (
            JIANGSHAN,
            DisputeFollowedUp(
                dispute_id=dispute, visited_at=_at(24 * 30), result=FollowUpResult.HOLDING
            ),
        ),
        (
            GUANGFENG,
            DisputeEscalated(
                dispute_id=dispute,
                to_body=EscalationBody.COURT,
                body_name=BilingualName(
                    zh="广丰区人民法院", en="Guangfeng District People's Court"
                ),
                reason="申请司法确认 / judicial confirmation of the settlement",
            ),
        ),
        (
            GUANGFENG,
            DisputeClosed(
                dispute_id=dispute, outcome=DisputeOutcome.RESOLVED, summary="协议已司法确认"
            ),
        ),
    ]


def _patrol_and_liaison() -> list[tuple[str, EventModel]]:
    patrol = "PATROL-2024-W19"
    return [
        (
            PUCHENG,
            PatrolPlanned(
                patrol_id=patrol,
                agencies=(JIANGSHAN, PUCHENG, GUANGFENG),
                area=("330881", "350722", "361103"),
                route="三省交界“三省界碑”至205国道 / tri-border marker to national road 205",
                starts_at=_at(36),
                ends_at=_at(40),
                handling=Handling(code=HandlingCode.H0, tlp=Tlp.GREEN),
            ),
        ),
        (
            JIANGSHAN,
            PatrolReported(
                patrol_id=patrol,
                started_at=_at(36),
                ended_at=_at(40.5),
                officers=12,
                incidents=1,
                summary="劝离无证摊贩一处 / one unlicensed stall moved on",
            ),
        ),
        (
            JIANGSHAN,
            LiaisonMeeting(
                meeting_id="LM-2024-Q2",
                held_at=_at(24 * 20),
                place=Place(division="330881", description="江山市廿八都镇联勤警务站"),
                agencies=(JIANGSHAN, PUCHENG, GUANGFENG),
                topics=("二季度联合巡逻安排", "电诈案件协作"),
                summary="通报案件进展，商定下季度巡逻 / case progress, next quarter's patrols",
            ),
        ),
        (
            PUCHENG,
            LiaisonContactUpdated(
                contact_id="PC-LIAISON-01",
                agency=PUCHENG,
                name=BilingualName(zh="林警官", en="Officer Lin"),
                role="联络员 / liaison officer",
                phone="+86 599 000 0001",
                valid_from=_at(24),
            ),
        ),
    ]


def example_story() -> list[tuple[str, EventModel]]:
    """(publisher agency code, event) in an order every lifecycle rule accepts."""
    return [*_alerts(), *_case(), *_dispute(), *_patrol_and_liaison()]


_V1_RECEIPTS: dict[type[EventModel], type[ReceiptEvent]] = {
    ReceiptReceivedV2: ReceiptReceived,
    ReceiptHandledV2: ReceiptHandled,
    ReceiptRejectedV2: ReceiptRejected,
}


def _as_v1(receipt: EventModel) -> EventModel:
    """A receipt of the story as version 1 wrote it: the same answer, no record hash."""
    data = receipt.model_dump()
    del data["answers"]["record_hash"]
    return _V1_RECEIPTS[type(receipt)].model_validate(data)


def _outside_the_story() -> list[EventModel]:
    """Examples of what the story has no place for: a release answers a record an agency
    had quarantined, and nothing in the story is refused."""
    return [
        ReceiptReleased(
            answers=_ref(JIANGSHAN, "0190a1b2-0000-7000-8000-000000000003", "alert.updated"),
            released_at=_at(6.0),
            refused_for="sequence-gap",
            origin="silian.jpg.alert.v1/0/41",
            officer="广丰分局指挥中心 王警官",
            justification="前序更新已由电话确认 / the missing update was confirmed by phone",
        ),
    ]


def example_events() -> list[EventModel]:
    """One valid example (at least) of every event type, in story order; then the story's
    receipts as version 1 (still read) wrote them, and those the story has no place for."""
    story = [event for _, event in example_story()]
    return [*story, *(_as_v1(e) for e in story if type(e) in _V1_RECEIPTS), *_outside_the_story()]
