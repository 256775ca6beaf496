"""``POST /api/v1/policies/check``: may this be promised? Asked before promising, records nothing.

A chatbot or another system sends the terms it is about to offer (and, optionally, the
customer's attributes) and gets every applicable policy's verdict, with the version it was
checked against. ``error`` means the policy could not be evaluated — never a pass.
"""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from lastmile.api.types import StrictSchema
from lastmile.core.clock import utcnow
from lastmile.promises.api import VerdictOut
from lastmile.promises.selectors import policies_check, policy_list

router = Router(tags=["policies"])


class CheckIn(StrictSchema):
    terms: dict[str, Any] = Field(description='The terms to check, e.g. {"adults": 4}.')
    customer: dict[str, Any] | None = Field(
        default=None, description='The customer\'s attributes, e.g. {"tier": "Gold"}.'
    )


class CheckOut(Schema):
    verdicts: list[VerdictOut]


@router.post("/check", response=CheckOut, summary="Check terms against every applicable policy")
def check(request: HttpRequest, payload: CheckIn) -> dict[str, Any]:
    verdicts = policies_check(terms=payload.terms, customer=payload.customer, now=utcnow())
    return {"verdicts": [v.as_dict() for v in verdicts]}


class PolicyOut(Schema):
    key: str
    title: str
    team: str | None
    active: bool
    version: int | None
    severity: str | None
    applies_when: str
    rule: str
    text: str


@router.get("", response=list[PolicyOut], summary="Policies and their current versions")
def list_policies(request: HttpRequest) -> list[dict[str, Any]]:
    out = []
    for p in policy_list():
        v = p.current
        out.append(
            {
                "key": p.key,
                "title": p.title,
                "team": p.team.slug if p.team is not None else None,
                "active": p.active,
                "version": v.version if v else None,
                "severity": v.severity if v else None,
                "applies_when": v.applies_when if v else "",
                "rule": v.rule if v else "",
                "text": v.text if v else "",
            }
        )
    return out
