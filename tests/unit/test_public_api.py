"""The public surfaces are pinned.

Adding, removing or renaming a public name of contracts, agencies, bus, bus.errors or
adapters must be a decision: it fails here until the expected list below is changed with
it. Every package of bus and adapters (each room too) has a curated ``__all__`` that is
exactly what the package exports, checked against the package itself (as httpx checks
``__all__`` against ``vars(httpx)``), so no list is copied by hand.
"""

from __future__ import annotations

import importlib
import re
import types
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]


def _packages(*roots: str) -> list[str]:
    """Every package with an ``__init__.py`` under ``roots``, found on disk (not imported)."""
    return sorted(
        ".".join(init.parent.relative_to(_ROOT).parts)
        for root in roots
        for init in (_ROOT / root).rglob("__init__.py")
    )


# Every package whose __init__ only hands names on: its every public name is listed.
PACKAGES = _packages("bus", "adapters", "contracts", "agencies")

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
            "ReceiptHandledV2",
            "ReceiptReceived",
            "ReceiptReceivedV2",
            "ReceiptRejected",
            "ReceiptRejectedV2",
            "ReceiptReleased",
            "RecordRef",
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
            # identities and the directory of known agencies
            "DIRECTORY",
            "KNOWN_AGENCIES",
            "Agency",
            "AgencyKind",
            "Directory",
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
            "PassphraseError",
            "PermissionDeniedError",
            "UnknownAgencyError",
            "VerificationError",
            "VerificationKind",
        }
    ),
    "bus": frozenset(
        {
            # one agency's bus, built from settings
            "Bus",
            "BusConfig",
            "Settings",
            "open_bus",
            "open_transport",
            # publishing and receiving
            "Delivery",
            "Outcome",
            "Published",
            "Reason",
            "Result",
            "Subscription",
            # transports
            "EmbeddedTransport",
            "KafkaConfig",
            "KafkaTransport",
            "Transport",
            "configure_logging",
            # the errors a caller catches
            "BusError",
            "ConfigError",
            "ContractError",
            "EventRejectedError",
            "LifecycleError",
            "NotConnectedError",
            "PermissionDeniedError",
            "RecordRejectedError",
            "RedeliverError",
            "SilianError",
            "TransportError",
            "VerificationError",
        }
    ),
    "adapters": frozenset(
        {
            # the runner and its configuration
            "LOCAL_KINDS",
            "AgencyConfig",
            "AgencyRunner",
            "LocalSection",
            "Mapping",
            "load_config",
            "load_mapping",
            "open_local_system",
            # what an adapter of a local system implements, takes and raises
            "DEFAULT_MAX_JSON_DEPTH",
            "BadLocalDataError",
            "InboundEvent",
            "LocalRecord",
            "LocalSystem",
            "LocalUnavailableError",
        }
    ),
    "bus.errors": frozenset(
        {
            "AgencyError",
            "AgreementError",
            "AgreementVerificationError",
            "AuditError",
            "BackupError",
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
            "PassphraseError",
            "LifecycleError",
            "NotConnectedError",
            "PermissionDeniedError",
            "ProofError",
            "RecordRejectedError",
            "RedeliverError",
            "RedeliveryError",
            "ReleaseRefusedError",
            "SilianEnvironmentError",
            "SilianError",
            "SplitViewError",
            "StateInUseError",
            "TransportError",
            "BrokerUnreachableError",
            "UnknownAgencyError",
            "VerificationError",
        }
    ),
}


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then functions and the rest."""
    group = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return group, name


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_all_is_exactly_the_expected_surface(module_name: str) -> None:
    listed = importlib.import_module(module_name).__all__
    assert len(listed) == len(set(listed)), "a name is listed twice"
    assert set(listed) == EXPECTED[module_name]


@pytest.mark.parametrize("module_name", sorted({*EXPECTED, *PACKAGES}))
def test_all_is_sorted(module_name: str) -> None:
    listed = list(importlib.import_module(module_name).__all__)
    assert listed == sorted(listed, key=_isort_key)


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_every_listed_name_imports(module_name: str) -> None:
    for name in EXPECTED[module_name]:
        namespace: dict[str, object] = {}
        exec(f"from {module_name} import {name}", namespace)  # noqa: S102 - fixed names
        assert namespace[name] is getattr(importlib.import_module(module_name), name)


def test_every_room_of_bus_and_adapters_is_a_package_checked_here() -> None:
    """A folder of modules without ``__init__.py`` (bus/envelope/ was one) has no curated
    surface, and the import contracts cannot name it."""
    for root in ("bus", "adapters"):
        for folder in (_ROOT / root).rglob("*.py"):
            package = ".".join(folder.parent.relative_to(_ROOT).parts)
            assert package in PACKAGES, f"{folder.parent} has modules but no __init__.py"


@pytest.mark.parametrize("module_name", PACKAGES)
def test_all_is_exactly_what_the_package_exports(module_name: str) -> None:
    """Every public name the package holds that is not a submodule is listed, and every
    listed name is there: ``__all__`` can neither hide a name nor promise a missing one."""
    module = importlib.import_module(module_name)
    listed = module.__all__
    assert len(listed) == len(set(listed)), "a name is listed twice"
    assert [name for name in listed if not hasattr(module, name)] == []
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # from __future__ import annotations
    }
    assert public == set(listed)


def test_every_error_is_a_silian_error_drawn_in_the_tree() -> None:
    errors = importlib.import_module("bus.errors")
    tree = errors.__doc__ or ""
    for name in EXPECTED["bus.errors"]:
        error = getattr(errors, name)
        assert issubclass(error, errors.SilianError), name
        assert re.search(rf"\b{name}\b", tree), f"{name} is missing from the bus.errors tree"
