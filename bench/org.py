"""A support organisation on business hours, for the sweep and ingest-on-cases workloads.

50 teams in 10 time zones, each open on its own local hours and closed on its country's
public holidays (the ``holidays`` package, as ``loops.business_time`` uses it) and on one
extra company day; each team has a lead and an agent (with emails, so every escalation
rung queues a notification) and 4 SLA policies, one per channel, with a first-reply,
next-reply and resolution time and one of two escalation ladders: 200 policies in all,
matched in position order (a loop of the last team tries every policy before its own).

Made through lastmile's services (``team_ensure``, ``agent_create``, ``business_hours_save``,
``sla_policy_save``), in a process that has run ``django.setup()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")

# (name, IANA zone, holiday country, subdivision, weekly local hours)
ZONES: list[tuple[str, str, str, str, dict[str, list[list[str]]]]] = [
    ("London", "Europe/London", "GB", "", {d: [["09:00", "17:30"]] for d in WEEKDAYS}),
    (
        "Berlin",
        "Europe/Berlin",
        "DE",
        "BE",
        {d: [["08:00", "12:00"], ["13:00", "17:00"]] for d in WEEKDAYS},
    ),
    ("New York", "America/New_York", "US", "NY", {d: [["09:00", "18:00"]] for d in WEEKDAYS}),
    ("Los Angeles", "America/Los_Angeles", "US", "CA", {d: [["08:00", "17:00"]] for d in WEEKDAYS}),
    (
        "Sao Paulo",
        "America/Sao_Paulo",
        "BR",
        "",
        {**{d: [["09:00", "18:00"]] for d in WEEKDAYS}, "sat": [["09:00", "13:00"]]},
    ),
    (
        "Kolkata",
        "Asia/Kolkata",
        "IN",
        "",
        {d: [["09:30", "18:30"]] for d in (*WEEKDAYS, "sat")},
    ),
    ("Tokyo", "Asia/Tokyo", "JP", "", {d: [["09:00", "18:00"]] for d in WEEKDAYS}),
    ("Sydney", "Australia/Sydney", "AU", "NSW", {d: [["08:30", "17:00"]] for d in WEEKDAYS}),
    (
        "Johannesburg",
        "Africa/Johannesburg",
        "ZA",
        "",
        {d: [["08:00", "16:30"]] for d in WEEKDAYS},
    ),
    ("Singapore", "Asia/Singapore", "SG", "", {d: [["09:00", "18:00"]] for d in WEEKDAYS}),
]
# One company day off per calendar (a Friday for half of them), as teams set for themselves.
EXTRA_HOLIDAYS = [["2026-05-22"], ["2026-05-15"]]

CHANNELS = ("email", "chat", "phone", "web")
# Minutes per channel: first reply, next reply, resolution.
MINUTES = {
    "email": (240, 480, 2400),
    "chat": (15, 30, 480),
    "phone": (60, 120, 960),
    "web": (120, 240, 1440),
}
LADDERS = [
    [
        {"at": 75, "action": "notify_owner"},
        {"at": 100, "action": "breach"},
        {"at": 150, "action": "reassign_to_lead"},
    ],
    [
        {"at": 50, "action": "notify_owner"},
        {"at": 90, "action": "notify_lead"},
        {"at": 100, "action": "breach"},
        {"at": 200, "action": "reassign_to_lead"},
    ],
]
TEAMS = 50


@dataclass
class Policy:
    """What a workload needs of one SLA policy: ids, its channel and times, its calendar."""

    pk: int
    team: int  # index into Org.teams
    channel: str
    resolution_seconds: int
    ladder: list[dict[str, Any]]
    zone: int  # index into ZONES


@dataclass
class Org:
    teams: list[int]
    leads: list[int]
    agents: list[int]
    policies: list[Policy]
    calendars: list[Any]  # loops.business_time.Calendar per zone

    def describe(self) -> str:
        countries = ", ".join(
            f"{name} ({country}{'-' + subdiv if subdiv else ''})"
            for name, _, country, subdiv, _ in ZONES
        )
        return (
            f"{len(self.teams)} teams, each with a lead and an agent, in {len(ZONES)} time zones "
            f"({countries}), each zone's business hours closed on its public holidays and one "
            f"company day; {len(self.policies)} SLA policies (one per team and channel: "
            f"{', '.join(CHANNELS)}; resolution {min(m[2] for m in MINUTES.values()) // 60}–"
            f"{max(m[2] for m in MINUTES.values()) // 60} business hours; ladders "
            + " and ".join(
                "/".join(f"{r['at']}% {r['action'].replace('_', ' ')}" for r in ladder)
                for ladder in LADDERS
            )
            + ")"
        )


def organisation_create(*, now: datetime, teams: int = TEAMS) -> Org:
    """The teams, people, calendars and policies described above; returns their ids."""
    from django.conf import settings
    from django.contrib.auth.hashers import get_hashers

    from lastmile.loops.models import BusinessHours, SlaPolicy
    from lastmile.loops.services import business_hours_save, sla_policy_save
    from lastmile.people.services import agent_create, team_ensure, team_set_lead

    # A hundred logins nobody logs in with: the default hasher (a second of PBKDF2 each on
    # two cores) would dominate the setup and measures nothing of the workload.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_hashers.cache_clear()

    hours = []
    for z, (name, tz, country, subdiv, weekly) in enumerate(ZONES):
        bh = BusinessHours(
            name=f"Bench {name}",
            timezone=tz,
            weekly=weekly,
            holiday_country=country,
            holiday_subdiv=subdiv,
            extra_holidays=EXTRA_HOLIDAYS[z % len(EXTRA_HOLIDAYS)],
        )
        hours.append(business_hours_save(hours=bh, actor=None, now=now, actor_label="bench"))

    org = Org([], [], [], [], [bh.calendar() for bh in hours])
    for t in range(teams):
        zone = t % len(ZONES)
        slug = f"bench-{t:02d}"
        team = team_ensure(
            name=f"Bench {ZONES[zone][0]} {t:02d}", slug=slug, email=f"{slug}@bench.example"
        )
        lead = agent_create(
            username=f"{slug}-lead",
            password=f"{slug}-lead-pw",
            teams=[team],
            role="lead",
            email=f"{slug}-lead@bench.example",
        )
        agent = agent_create(
            username=f"{slug}-agent",
            password=f"{slug}-agent-pw",
            teams=[team],
            role="agent",
            email=f"{slug}-agent@bench.example",
        )
        team_set_lead(team=team, lead=lead.user)
        org.teams.append(team.pk)
        org.leads.append(lead.user.pk)
        org.agents.append(agent.user.pk)
        for c, channel in enumerate(CHANNELS):
            first, following, resolution = MINUTES[channel]
            ladder = LADDERS[(t + c) % len(LADDERS)]
            policy = sla_policy_save(
                policy=SlaPolicy(
                    name=f"Bench {slug} {channel}",
                    position=len(org.policies) + 1,
                    channel=channel,
                    team=team,
                    first_reply_minutes=first,
                    next_reply_minutes=following,
                    resolution_minutes=resolution,
                    business_hours=hours[zone],
                    escalation=ladder,
                ),
                actor=None,
                now=now,
                actor_label="bench",
            )
            org.policies.append(
                Policy(
                    pk=policy.pk,
                    team=t,
                    channel=channel,
                    resolution_seconds=resolution * 60,
                    ladder=ladder,
                    zone=zone,
                )
            )
    return org
