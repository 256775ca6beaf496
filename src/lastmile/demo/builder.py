"""The plan being made: ``Builder`` holds the random generator, ``now`` and the plan, and
gives the stories their steps, case and loop keys and people."""

from __future__ import annotations

import random
import unicodedata
from datetime import datetime, timedelta
from typing import Any

import phonenumbers

from lastmile.demo import texts
from lastmile.demo.plan import Chatter, Person, Plan, Step, to_minute


class Builder:
    """One plan in the making. Every story draws from the one ``rng``, so the order the
    stories run in (``stories.build_plan``) is part of the plan."""

    def __init__(self, *, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.plan = Plan(seed=seed, now=now)
        self.emails: set[str] = set()
        self.handles: set[str] = set()
        self.phones: set[str] = set()
        self.case_no = 0
        self.loop_no = 0
        self.person_info: dict[str, dict[str, Any]] = {}

    # -- output ----------------------------------------------------------------------------

    def finish(self) -> Plan:
        plan = self.plan
        # Stable sort: steps at the same instant keep the order they were planned in.
        plan.steps = sorted((s for s in plan.steps if s.at <= self.now), key=lambda s: s.at)
        n = 0
        for s in plan.steps:
            if s.action == "message":
                n += 1
                s.source_id = f"demo-{plan.seed}-m{n}"
        chatter = sorted((c for c in plan.chatter if c.at <= self.now), key=lambda c: c.at)
        plan.chatter = [
            Chatter(
                at=c.at,
                customer=c.customer,
                channel=c.channel,
                direction=c.direction,
                body=c.body,
                data=c.data,
                source_id=f"demo-{plan.seed}-c{i + 1}",
            )
            for i, c in enumerate(chatter)
        ]
        return plan

    def step(self, at: datetime, action: str, customer: str, **kw: Any) -> Step:
        s = Step(at=to_minute(at), action=action, customer=customer, **kw)
        self.plan.steps.append(s)
        return s

    def new_case_key(self) -> str:
        self.case_no += 1
        return f"k{self.case_no}"

    def new_loop_key(self) -> str:
        self.loop_no += 1
        return f"l{self.loop_no}"

    # -- people ----------------------------------------------------------------------------

    def phone_for(self, country: str) -> str:
        rng = self.rng
        while True:
            if country == "IN":
                raw = "+91" + rng.choice(texts.IN_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            else:
                raw = "+44" + rng.choice(texts.UK_MOBILE_PREFIXES) + f"{rng.randrange(10**6):06d}"
            if raw not in self.phones and phonenumbers.is_valid_number(phonenumbers.parse(raw)):
                self.phones.add(raw)
                return raw

    def email_for(self, first: str, last: str, country: str) -> str:
        rng = self.rng
        domains = texts.IN_EMAIL_DOMAINS if country == "IN" else texts.UK_EMAIL_DOMAINS
        f, la = _ascii(first), _ascii(last)
        shapes = (
            f"{f}.{la}",
            f"{f}{la}",
            f"{f[0]}{la}",
            f"{f}.{la}{rng.randint(1, 99)}",
            f"{f}_{la}{rng.randint(70, 99)}",
        )
        for shape in shapes + tuple(f"{f}.{la}{i}" for i in range(100, 10000)):
            email = f"{shape}@{rng.choice(domains)}"
            if email not in self.emails:
                self.emails.add(email)
                return email
        raise AssertionError("unreachable")

    def handle_for(self, first: str, last: str) -> str:
        rng = self.rng
        f, la = _ascii(first), _ascii(last)
        for shape in (
            f"{f}{la}",
            f"{f}_{la[:1]}",
            f"{f[:1]}{la}{rng.randint(1, 99)}",
            f"{f}{la}{rng.randint(80, 99)}",
        ):
            if shape not in self.handles:
                self.handles.add(shape)
                return shape
        i = 1
        while f"{f}{la}{i}" in self.handles:
            i += 1
        self.handles.add(f"{f}{la}{i}")
        return f"{f}{la}{i}"

    def person(
        self,
        key: str,
        first: str,
        last: str,
        *,
        country: str,
        email: str | None = None,
        phone: str | None = None,
        handle: str | None = None,
        since_days: int = 400,
        segments: tuple[str, ...] = ("bank",),
        attributes: dict[str, str] | None = None,
        city: str | None = None,
    ) -> str:
        ids: list[tuple[str, str, str]] = []
        if email:
            self.emails.add(email)
            ids.append(("email", "", email))
        if phone:
            self.phones.add(phone)
            ids.append(("phone", "", phone))
        if handle:
            self.handles.add(handle)
            ids.append(("social", "twitter", "@" + handle))
        tz = "Asia/Kolkata" if country == "IN" else "Europe/London"
        city = city or self.rng.choice(texts.IN_CITIES if country == "IN" else texts.UK_CITIES)
        attrs = {"country": country, "city": city, **(attributes or {})}
        since = to_minute(
            self.now - timedelta(days=since_days, minutes=self.rng.randrange(24 * 60))
        )
        self.plan.people.append(
            Person(
                key=key,
                name=f"{first} {last}",
                identities=tuple(ids),
                since=since,
                timezone=tz,
                attributes=tuple(sorted(attrs.items())),
            )
        )
        self.person_info[key] = {
            "first": first,
            "last": last,
            "country": country,
            "city": city,
            "handle": handle or "",
            "phone": phone or "",
            "segments": segments,
            "tier": attrs.get("tier", ""),
        }
        return key


def _ascii(s: str) -> str:
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return "".join(ch for ch in s.lower() if ch.isalnum())
