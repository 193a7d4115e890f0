"""The public surfaces of contracts, agencies and bus.errors are pinned.

Adding, removing or renaming a public name must be a decision: it fails here until the
expected list below is changed with it.
"""

from __future__ import annotations

import importlib
import re
import types

import pytest

EXPECTED: dict[str, frozenset[str]] = {
    "contracts": frozenset(
        {
            # constants
            "ASYNCAPI_FILE",
            "ASYNCAPI_VERSION",
            "CATALOGUE_VERSION",
            "CE_TYPE_PREFIX",
            "EXPORT_DIR",
            "FAMILY_TOPIC_VERSION",
            "JSON_SCHEMA_DIALECT",
            "LIFECYCLE_RULES",
            "PROVINCE_PREFIXES",
            "RECORD_HEADERS",
            "REGISTRY",
            "TOPIC_PREFIX",
            # alerts
            "AlertCancelled",
            "AlertExtended",
            "AlertHit",
            "AlertIssued",
            "AlertSubject",
            "AlertUpdated",
            "CancelReason",
            "ObjectSubject",
            "PatternSubject",
            "PersonSubject",
            "VehicleSubject",
            # joint cases
            "CaseCategory",
            "CaseClosed",
            "CaseEvidenceShared",
            "CaseLeadShared",
            "CaseMemberInvited",
            "CaseMemberJoined",
            "CaseMemberLeft",
            "CaseNote",
            "CaseOpened",
            "CaseOutcome",
            "CaseTaskAssigned",
            "CaseTaskCompleted",
            # border disputes
            "DisputeCategory",
            "DisputeClosed",
            "DisputeEscalated",
            "DisputeFollowedUp",
            "DisputeLeadAgreed",
            "DisputeMediationHeld",
            "DisputeMediationScheduled",
            "DisputeOutcome",
            "DisputeReported",
            "DisputeSettled",
            "EscalationBody",
            "FollowUpResult",
            "MediationOutcome",
            "Party",
            # patrols, liaison, receipts
            "PatrolPlanned",
            "PatrolReported",
            "LiaisonContactUpdated",
            "LiaisonMeeting",
            "EventRef",
            "ReceiptEvent",
            "ReceiptHandled",
            "ReceiptReceived",
            "ReceiptRejected",
            "RejectReason",
            # shared vocabulary
            "AgencyCode",
            "BilingualName",
            "DivisionCode",
            "EntityId",
            "FederationId",
            "Handling",
            "HandlingCode",
            "InformationAccuracy",
            "Place",
            "Priority",
            "Sha256Hex",
            "SourceReliability",
            "Text",
            "Timestamp",
            "Tlp",
            "ValueModel",
            "WarningMarker",
            "response_deadline",
            # base, registry, lifecycle, errors
            "ContractError",
            "EventModel",
            "EventRegistry",
            "EventSpec",
            "Family",
            "LifecycleError",
            "LifecycleTracker",
            "SilianError",
            "decode",
            "encode",
            "spec_for_model",
            "spec_for_type",
            # topics
            "agreement_topic",
            "case_topic",
            "checkpoints_topic",
            "family_topic",
            "family_topics",
            "fixed_topics",
            "quarantine_topic",
            "topic_pattern",
            # exports and compatibility
            "ExportProblem",
            "asyncapi_document",
            "check_compatibility",
            "check_exports",
            "dumps",
            "event_schema",
            "render_exports",
            "schema_path",
            "write_exports",
        }
    ),
    "agencies": frozenset(
        {
            # identities
            "KNOWN_AGENCIES",
            "Agency",
            "AgencyKind",
            "Mechanism",
            "agency",
            # keys
            "KeyAlg",
            "KeyPair",
            "KeyRecord",
            "KeyStore",
            "SealingKey",
            "SealingPublicKey",
            "SigningKey",
            "VerifyKey",
            "make_key_id",
            # the agreement, its signatures, history and folder
            "AGREEMENT_FORMAT",
            "DOMAIN_LINE",
            "Agreement",
            "AgreementFolder",
            "AgreementHistory",
            "AgreementSignature",
            "Member",
            "ResponseDeadlines",
            "Retention",
            "agreement_bytes",
            "document_digest",
            "dump_signatures",
            "field_digests",
            "load_signatures",
            "parse_agreement",
            "sign_agreement",
            "verify_agreement",
            # permissions
            "Action",
            "PermissionRule",
            "Permissions",
            # shipped federations and set-up
            "FEDERATIONS",
            "FederationTemplate",
            "init_agreement",
            "load_template",
            "next_agreement",
            "sign_as",
            # errors
            "AgencyError",
            "AgreementError",
            "AgreementVerificationError",
            "KeyFormatError",
            "KeyStoreError",
            "PermissionDeniedError",
            "UnknownAgencyError",
            "VerificationError",
            "VerificationKind",
        }
    ),
    "bus.errors": frozenset(
        {
            "AgencyError",
            "AgreementError",
            "AgreementVerificationError",
            "AuditError",
            "BundleError",
            "BusError",
            "CheckpointError",
            "ConfigError",
            "ContractError",
            "EventRejectedError",
            "InconsistentCheckpointError",
            "KafkaStartError",
            "KeyFormatError",
            "KeyStoreError",
            "LifecycleError",
            "NotConnectedError",
            "PermissionDeniedError",
            "ProofError",
            "RecordRejectedError",
            "RedeliverError",
            "RedeliveryError",
            "SilianEnvironmentError",
            "SilianError",
            "SplitViewError",
            "TransportError",
            "UnknownAgencyError",
            "VerificationError",
        }
    ),
}

# Packages whose __init__ only re-exports: every public name in it must be listed.
_CURATED = ("contracts", "agencies")


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then functions and the rest."""
    group = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return group, name


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_all_is_exactly_the_expected_surface(module_name: str) -> None:
    listed = importlib.import_module(module_name).__all__
    assert len(listed) == len(set(listed)), "a name is listed twice"
    assert set(listed) == EXPECTED[module_name]


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_all_is_sorted(module_name: str) -> None:
    listed = list(importlib.import_module(module_name).__all__)
    assert listed == sorted(listed, key=_isort_key)


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_every_listed_name_imports(module_name: str) -> None:
    for name in EXPECTED[module_name]:
        namespace: dict[str, object] = {}
        exec(f"from {module_name} import {name}", namespace)  # noqa: S102 - fixed names
        assert namespace[name] is getattr(importlib.import_module(module_name), name)


@pytest.mark.parametrize("module_name", _CURATED)
def test_nothing_public_is_left_unlisted(module_name: str) -> None:
    module = importlib.import_module(module_name)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert public == set(module.__all__)


def test_every_error_is_a_silian_error_drawn_in_the_tree() -> None:
    errors = importlib.import_module("bus.errors")
    tree = errors.__doc__ or ""
    for name in EXPECTED["bus.errors"]:
        error = getattr(errors, name)
        assert issubclass(error, errors.SilianError), name
        assert re.search(rf"\b{name}\b", tree), f"{name} is missing from the bus.errors tree"
