"""The admin lists open loops no SLA policy matches — a configuration gap to fix — and links
to adding the policy that would cover them."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from lastmile.loops.models import SlaPolicy
from lastmile.loops.services import loop_close, loop_open

pytestmark = pytest.mark.django_db

GAPS = "/admin/loops/loop/sla-gaps/"


@pytest.fixture
def loops(customer, case, team, other_team, now):
    """An email reply covered by a policy, a task with a deadline of its own, two portal
    replies and a back-office follow-up no policy matches, and a closed uncovered loop."""
    SlaPolicy.objects.create(name="Email", position=10, channel="email", first_reply_minutes=60)

    def open_(kind, channel, team, **kw):
        return loop_open(
            customer=customer,
            case=case,
            kind=kind,
            title=f"{kind} on {channel or '-'}",
            channel=channel,
            team=team,
            now=now,
            **kw,
        )

    covered = open_("reply", "email", team)
    fixed = open_("task", "", team, due_at=now + timedelta(hours=4))
    portal = [open_("reply", "portal", team), open_("reply", "portal", team)]
    followup = open_("followup", "chat", other_team)
    closed = open_("reply", "sms", team)
    loop_close(loop=closed, actor=None, reason="answered", now=now)
    return {
        "covered": covered,
        "fixed": fixed,
        "portal": portal,
        "followup": followup,
        "closed": closed,
    }


def changelist_ids(page: str) -> set[int]:
    """The loops a changelist page links to (its rows)."""
    return {int(pk) for pk in re.findall(r'href="/admin/loops/loop/(\d+)/change/[?"]', page)}


def test_the_no_sla_policy_filter_lists_uncovered_open_loops_only(staff, loops):
    # when the admin filters the loop list on "no SLA policy matches"
    r = staff.get("/admin/loops/loop/", {"sla": "none"})

    # then only the open loops without a deadline are listed
    assert r.status_code == 200
    expected = {lp.pk for lp in loops["portal"]} | {loops["followup"].pk}
    assert changelist_ids(r.content.decode()) == expected


def test_the_gap_summary_groups_uncovered_loops_by_kind_channel_and_team(staff, loops, team):
    # when the admin opens the gap summary
    r = staff.get(GAPS)
    page = r.content.decode()

    # then one row per kind, channel and team, with counts, largest first
    assert r.status_code == 200
    rows = r.context["gaps"]
    assert [(g["kind"], g["channel"], g["team_name"], g["n"]) for g in rows] == [
        ("reply", "portal", "Front office", 2),
        ("followup", "chat", "Back office", 1),
    ]
    # and nothing about the covered, the fixed-deadline or the closed loop
    table = page.split('<table id="result_list">', 1)[1].split("</table>", 1)[0]
    assert "email" not in table and "sms" not in table
    # each row links to its loops and to adding a policy that would cover them
    add = urlsplit(rows[0]["add_url"])
    assert add.path == reverse("admin:loops_slapolicy_add")
    assert parse_qs(add.query) == {"kind": ["reply"], "channel": ["portal"], "team": [str(team.pk)]}
    assert rows[0]["add_url"].replace("&", "&amp;") in page
    listed = staff.get(rows[0]["loops_url"])
    assert changelist_ids(listed.content.decode()) == {lp.pk for lp in loops["portal"]}


def test_the_add_policy_link_prefills_the_form(staff, loops, team):
    r = staff.get(reverse("admin:loops_slapolicy_add"), {"kind": "reply", "channel": "portal"})

    form = r.context["adminform"].form
    assert form.initial["kind"] == "reply" and form.initial["channel"] == "portal"


def test_with_every_loop_covered_the_summary_says_so(staff, customer, case, team, now):
    SlaPolicy.objects.create(name="All replies", position=10, first_reply_minutes=60)
    loop_open(customer=customer, case=case, kind="reply", title="r", channel="portal", now=now)

    r = staff.get(GAPS)

    assert r.context["gaps"] == []
    assert "Every open loop has a deadline" in r.content.decode()


def test_the_summary_is_reachable_from_the_admin_index(staff, loops):
    page = staff.get("/admin/").content.decode()

    assert f'href="{GAPS}"' in page
    assert "3 open loops match no SLA policy" in page


def test_the_summary_is_for_staff_only(client, alice, loops):
    client.force_login(alice)

    r = client.get(GAPS)

    assert r.status_code == 302 and "/admin/login/" in r["Location"]
