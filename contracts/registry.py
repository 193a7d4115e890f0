"""The event-type registry: each type's model, version, family, topic and record key.

A type's major version is part of its CloudEvents type (``cn.silian.alert.issued.v1``).
A compatible change keeps the version; an incompatible one registers a new model as
``v2`` beside ``v1`` so both stay readable during the transition.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from contracts import alerts, cases, disputes, liaison, patrols, receipts
from contracts.base import EventModel, Family
from contracts.errors import ContractError
from contracts.lifecycle import LifecycleTracker
from contracts.topics import case_topic, family_topic, topic_pattern

__all__ = [
    "CE_TYPE_PREFIX",
    "REGISTRY",
    "EventRegistry",
    "EventSpec",
    "decode",
    "encode",
    "spec_for_model",
    "spec_for_type",
]

CE_TYPE_PREFIX = "cn.silian."


@dataclass(frozen=True, kw_only=True)
class EventSpec:
    """Everything the bus needs to know about one event type at one major version."""

    event_type: str
    version: int
    family: Family
    model: type[EventModel]

    @property
    def ce_type(self) -> str:
        """CloudEvents ``type``: ``cn.silian.<event_type>.v<version>``."""
        return f"{CE_TYPE_PREFIX}{self.event_type}.v{self.version}"

    @property
    def dataschema(self) -> str:
        """CloudEvents ``dataschema``: the ``$id`` of the exported JSON Schema."""
        return f"urn:silian:schema:{self.event_type}.v{self.version}"

    @property
    def schema_name(self) -> str:
        """``<event_type>.v<version>``: file stem of the export, AsyncAPI message name."""
        return f"{self.event_type}.v{self.version}"

    @property
    def key_field(self) -> str:
        """Where the entity id is: a field name, or a dotted path into one."""
        return self.model.key_path or self.model.key_field

    @property
    def expects_receipts(self) -> bool:
        """Every addressee answers it with signed receipts (事事有回音)."""
        return self.model.expects_receipts

    @property
    def opens_entity(self) -> bool:
        """It creates its entity: a handling it declares is the entity's from then on."""
        return self.model.opens_entity

    @property
    def opens_topic(self) -> bool:
        """Its entity gets a topic of its own as it opens (a joint case)."""
        return self.model.opens_topic

    @property
    def stateful(self) -> bool:
        """The lifecycle judge keeps state for it (what an auditor must keep in order)."""
        return LifecycleTracker.judges(self.family)

    def addressees(
        self, event: EventModel, *, members: Collection[str], case_members: Collection[str]
    ) -> frozenset[str]:
        """Who ``event`` is addressed to (:meth:`contracts.base.EventModel.addressees`)."""
        self._check(event)
        return event.addressees(members=members, case_members=case_members)

    @property
    def topic_pattern(self) -> str:
        """The topic address with ``{federation}`` (and ``{caseId}``) placeholders."""
        return topic_pattern(self.family)

    def _check(self, event: EventModel) -> None:
        if not isinstance(event, self.model):
            raise ContractError(f"{type(event).__name__} is not a {self.ce_type} event")

    def partition_key(self, event: EventModel) -> str:
        """The Kafka record key: the id of the entity whose events must stay ordered."""
        self._check(event)
        return event.entity_id()

    def topic(self, federation: str, event: EventModel) -> str:
        """The topic ``event`` is published on in ``federation``."""
        self._check(event)
        if self.family is Family.CASE:
            return case_topic(federation, event.entity_id())
        return family_topic(federation, self.family)


class EventRegistry(Mapping[str, EventSpec]):
    """A mapping ce_type → :class:`EventSpec`; the module default is :data:`REGISTRY`."""

    def __init__(self, models: Iterable[type[EventModel]] = ()) -> None:
        self._by_type: dict[str, EventSpec] = {}
        self._by_model: dict[type[EventModel], EventSpec] = {}
        for model in models:
            self.register(model)

    def register(self, model: type[EventModel]) -> EventSpec:
        """Add ``model`` (its ``event_type``/``version``/``family`` ClassVars) and return it."""
        try:
            spec = EventSpec(
                event_type=model.event_type,
                version=model.version,
                family=model.family,
                model=model,
            )
            _ = model.key_field
        except AttributeError as error:
            raise ContractError(f"{model.__name__} lacks a contract ClassVar: {error}") from None
        if spec.family.value != spec.event_type.split(".", 1)[0]:
            raise ContractError(f"{spec.event_type} is not of family {spec.family.value}")
        if model.key_field not in model.model_fields:
            raise ContractError(f"{model.__name__}: key field {model.key_field!r} is not a field")
        if spec.ce_type in self._by_type:
            raise ContractError(f"{spec.ce_type} is already registered")
        self._by_type[spec.ce_type] = spec
        self._by_model[model] = spec
        return spec

    def __getitem__(self, ce_type: str) -> EventSpec:
        return self._by_type[ce_type]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._by_type))

    def __len__(self) -> int:
        return len(self._by_type)

    def specs(self) -> list[EventSpec]:
        """Every spec, sorted by family, event type, version."""
        return sorted(self._by_type.values(), key=lambda s: (s.event_type, s.version))

    def spec_for_type(self, ce_type: str) -> EventSpec:
        """The spec of a CloudEvents type; :class:`ContractError` when unknown."""
        try:
            return self._by_type[ce_type]
        except KeyError:
            raise ContractError(f"unknown event type {ce_type!r}") from None

    def spec_for_model(self, model: type[EventModel] | EventModel) -> EventSpec:
        """The spec of a model class or instance."""
        cls = model if isinstance(model, type) else type(model)
        try:
            return self._by_model[cls]
        except KeyError:
            raise ContractError(f"{cls.__name__} is not a registered event model") from None

    def decode(self, ce_type: str, data: bytes) -> EventModel:
        """Validate the JSON bytes of an event of type ``ce_type``."""
        spec = self.spec_for_type(ce_type)
        try:
            return spec.model.model_validate_json(data)
        except ValidationError as error:
            raise ContractError(_describe(ce_type, error)) from None


def _describe(ce_type: str, error: ValidationError) -> str:
    problems = error.errors(include_url=False)
    first = problems[0]
    field = ".".join(str(part) for part in first["loc"]) or "(document)"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{ce_type}: field {field!r}: {first['msg']}{more}"


def encode(event: EventModel) -> bytes:
    """The JSON bytes of an event's data, as a publisher sends them."""
    return event.model_dump_json().encode()


_MODULES = (alerts, cases, disputes, patrols, liaison, receipts)


def _event_models() -> Iterator[type[EventModel]]:
    """Every concrete event model the family modules export (a base like
    :class:`~contracts.receipts.ReceiptEvent` has no ``event_type`` of its own)."""
    for module in _MODULES:
        for name in module.__all__:
            found = getattr(module, name)
            if (
                isinstance(found, type)
                and issubclass(found, EventModel)
                and hasattr(found, "event_type")
            ):
                yield found


REGISTRY = EventRegistry(_event_models())
"""Every event type silian knows, at every version still readable."""


def spec_for_type(ce_type: str) -> EventSpec:
    """:meth:`EventRegistry.spec_for_type` on :data:`REGISTRY`."""
    return REGISTRY.spec_for_type(ce_type)


def spec_for_model(model: type[EventModel] | EventModel) -> EventSpec:
    """:meth:`EventRegistry.spec_for_model` on :data:`REGISTRY`."""
    return REGISTRY.spec_for_model(model)


def decode(ce_type: str, data: bytes) -> EventModel:
    """:meth:`EventRegistry.decode` on :data:`REGISTRY`."""
    return REGISTRY.decode(ce_type, data)
