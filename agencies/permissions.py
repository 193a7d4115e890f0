"""Who may publish and read what: the permission rules of an agreement.

A rule grants member *kinds* (police, partner) an *action* (publish, read) on event
*families* up to a most-restricted handling code (H0 least … H3 most restricted). Nothing
is allowed unless a rule allows it. One rule is not the document's to change: partners
never read alerts — criminal intelligence — whatever the rules say (DOMAIN.md, 三山).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from agencies.errors import PermissionDeniedError
from agencies.identity import AgencyKind
from contracts.base import Family
from contracts.vocab import HandlingCode

__all__ = ["Action", "PermissionRule", "Permissions"]

_HANDLING_ORDER: tuple[HandlingCode, ...] = tuple(HandlingCode)  # H0 < H1 < H2 < H3


class Action(StrEnum):
    PUBLISH = "publish"
    READ = "read"


class PermissionRule(BaseModel):
    """``kinds`` may do ``actions`` on ``families`` up to handling code ``max_handling``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kinds: tuple[AgencyKind, ...] = Field(min_length=1)
    actions: tuple[Action, ...] = Field(min_length=1)
    families: tuple[Family, ...] = Field(min_length=1)
    max_handling: HandlingCode

    def allows(
        self, kind: AgencyKind, action: Action, family: Family, handling: HandlingCode
    ) -> bool:
        return (
            kind in self.kinds
            and action in self.actions
            and family in self.families
            and _HANDLING_ORDER.index(handling) <= _HANDLING_ORDER.index(self.max_handling)
        )


class Permissions(BaseModel):
    """The rules of one agreement version. Deny unless a rule allows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[PermissionRule, ...] = ()

    def check(
        self,
        *,
        who: str,
        kind: AgencyKind | str,
        action: Action | str,
        family: Family | str,
        handling: HandlingCode | str,
    ) -> None:
        """Return if allowed; else :class:`PermissionDeniedError` naming who, what and why.

        ``who`` is how the error names the agency (e.g. ``坛石司法所 (330881620000)``).
        """
        try:
            # Normalise: callers may pass plain strings, and `is` checks below need members.
            kind, action = AgencyKind(kind), Action(action)
            fam, code = Family(family), HandlingCode(handling)
        except ValueError as error:
            raise PermissionDeniedError(f"{who} may not {action} it: {error}") from None
        what = f"{action} {fam}.* events with handling {code}"
        # Fixed in code, not in the document: partners never read criminal intelligence.
        if kind is AgencyKind.PARTNER and action is Action.READ and fam is Family.ALERT:
            raise PermissionDeniedError(
                f"{who} may not {what}: partner bodies never read alerts (criminal "
                "intelligence), whatever the agreement's rules say"
            )
        if not any(rule.allows(kind, action, fam, code) for rule in self.rules):
            raise PermissionDeniedError(
                f"{who} ({kind}) may not {what}: no rule of the agreement allows it"
            )
