"""Policy verdicts: a promise's terms checked against policy versions (no ORM here).

A verdict is ``pass``, ``fail`` or ``error``. An error — the rule or its applicability
cannot be evaluated (a missing term, a type mismatch) — is reported as an error and is
treated like a failure at the policy's severity when a promise is recorded: a rule that
cannot be checked never lets a promise through silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from lastmile.people.authority import authority_allows
from lastmile.promises.cel import cel_evaluate

PASS, FAIL, ERROR = "pass", "fail", "error"


@dataclass(frozen=True)
class Verdict:
    policy: str
    title: str
    version: int
    severity: str
    result: str
    text: str
    detail: str = ""
    authority_term: str = ""

    @property
    def failed(self) -> bool:
        """Failed or errored: either way the policy was not satisfied."""
        return self.result != PASS

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("authority_term")
        return data


def verdict_for(version: Any, *, terms: dict[str, Any], customer: dict[str, Any]) -> Verdict | None:
    """The verdict of one policy version, or None when its ``applies_when`` is false."""
    variables = {"terms": terms, "customer": customer}

    def make(result: str, detail: str = "") -> Verdict:
        return Verdict(
            policy=version.policy.key,
            title=version.policy.title,
            version=version.version,
            severity=version.severity,
            result=result,
            text=version.text,
            detail=detail,
            authority_term=version.authority_term,
        )

    if version.applies_when.strip():
        applies = cel_evaluate(version.applies_when, variables)
        if applies.value is None:
            return make(ERROR, f"applies_when: {applies.error}")
        if not applies.value:
            return None
    outcome = cel_evaluate(version.rule, variables)
    if outcome.value is None:
        return make(ERROR, outcome.error)
    return make(PASS if outcome.value else FAIL)


def verdicts_for(
    versions: Iterable[Any], *, terms: dict[str, Any], customer: dict[str, Any]
) -> list[Verdict]:
    """Verdicts of every applicable version: blocks first, then warnings, each by key."""
    out = [v for v in (verdict_for(pv, terms=terms, customer=customer) for pv in versions) if v]
    return sorted(out, key=lambda v: (v.severity != "block", v.policy))


@dataclass(frozen=True)
class Needs:
    """What recording a promise with these verdicts needs from the person recording it."""

    warnings: list[Verdict]  # to be confirmed
    blocks: list[Verdict]  # to be overridden
    not_overridable: list[Verdict]  # blocks this person's authority does not cover

    @property
    def nothing(self) -> bool:
        return not self.warnings and not self.blocks


def needs_for(
    verdicts: list[Verdict], *, terms: dict[str, Any], authority: dict[str, Any] | None
) -> Needs:
    warnings = [v for v in verdicts if v.failed and v.severity == "warn"]
    blocks = [v for v in verdicts if v.failed and v.severity == "block"]
    not_overridable = [
        v
        for v in blocks
        if not authority_allows(authority, policy_key=v.policy, term=v.authority_term, terms=terms)
    ]
    return Needs(warnings=warnings, blocks=blocks, not_overridable=not_overridable)
