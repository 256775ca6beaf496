"""Statuses have their label and colour in one choice set, not decided in templates."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import models

from lastmile.cases.models import CASE_STATUS, Case
from lastmile.channels.models import OUTBOX_STATUS, OutboxMessage
from lastmile.core.choices import TONES, Badge, ChoiceSet
from lastmile.crisis.models import ALERT_STATE, Alert
from lastmile.journeys.models import JOURNEY_STATE, Journey
from lastmile.promises.models import PROMISE_STATE, Promise

# Every status field shown as a coloured badge, with its choice set. A new field's choice
# set belongs here; a new value of a listed field without a colour fails below.
CHOICE_SETS = [
    (OutboxMessage, "status", OUTBOX_STATUS),
    (Case, "status", CASE_STATUS),
    (Alert, "state", ALERT_STATE),
    (Promise, "state", PROMISE_STATE),
    (Journey, "state", JOURNEY_STATE),
]


@pytest.mark.parametrize(
    ("model", "field", "choice_set"),
    CHOICE_SETS,
    ids=[f"{m.__name__}.{f}" for m, f, _ in CHOICE_SETS],
)
def test_every_value_of_the_field_has_a_label_and_a_colour(model, field, choice_set):
    choices = model._meta.get_field(field).choices
    assert choices
    for value, label in choices:
        badge = choice_set.badge(value)
        assert badge == Badge(value, str(label), badge.colour)
        assert badge.colour in TONES, (value, badge.colour)
        if hasattr(model, f"{field}_badge"):
            assert getattr(model(**{field: value}), f"{field}_badge") == badge
    for badge in choice_set:
        assert badge.label and badge.colour in TONES


class Colour(models.TextChoices):
    RED = "red", "Red"
    BLUE = "blue", "Blue"


def test_a_choice_set_refuses_a_value_without_a_colour():
    with pytest.raises(ValueError, match="missing for \\['blue'\\]"):
        ChoiceSet(Colour, colours={"red": "breached"})
    with pytest.raises(ValueError, match="unknown \\['green'\\]"):
        ChoiceSet(Colour, colours={"red": "breached", "blue": "primary", "green": "ok"})
    with pytest.raises(ValueError, match="colour 'pink'"):
        ChoiceSet(Colour, colours={"red": "pink", "blue": "primary"})
    with pytest.raises(ValueError, match="twice"):
        ChoiceSet(
            Colour,
            colours={"red": "breached", "blue": "primary"},
            derived=[Badge("red", "Again", "ok")],
        )


def test_a_choice_set_gives_label_and_colour():
    colours = ChoiceSet(
        Colour,
        colours={"red": "breached", "blue": "primary"},
        derived=[Badge("navy", "Navy", "primary")],
    )
    assert colours.label("red") == "Red"
    assert colours.colour("blue") == "primary"
    assert colours.derived("navy") == Badge("navy", "Navy", "primary")
    assert colours.badge("mauve") == Badge("mauve", "mauve", "grey")


_ROW = re.compile(
    r'<li data-outbox-status="(?P<status>[a-z]+)" data-purpose="(?P<purpose>[a-z_]+)">.*?'
    r'<span class="status" data-status="(?P<data>[a-z]+)">(?P<label>[^<]*)</span>',
    re.S,
)


@pytest.mark.django_db
def test_the_outbox_panel_shows_sending_held_and_the_status(client, alice, case, now):
    def message(purpose, **fields):
        OutboxMessage.objects.create(
            key=f"t:{purpose}",
            purpose=purpose,
            recipient="c@example.com",
            customer=case.customer,
            created_at=now,
            next_attempt_at=now + timedelta(hours=1),
            **fields,
        )

    message("claimed", claimed_at=now)
    message("claimedheld", claimed_at=now, rule_check="quiet_hours", rule_reason="night")
    message("held", rule_check="quiet_hours", rule_reason="night")
    message("retrying", rule_check="quiet_hours", rule_reason="night", attempts=1)
    message("waiting")
    message("sent", status="sent", sent_at=now)
    message("heldsent", status="sent", sent_at=now, rule_check="min_gap", rule_reason="gap")
    message("failed", status="failed", attempts=5, last_error="boom")
    message("stopped", status="suppressed", rule_check="max_unanswered", rule_reason="asked")

    client.force_login(alice)
    page = client.get(f"/customers/{case.customer_id}/").content.decode()
    shown = {m["purpose"]: (m["status"], m["data"], m["label"]) for m in _ROW.finditer(page)}
    assert shown == {
        "claimed": ("pending", "pending", "Sending"),
        "claimedheld": ("pending", "pending", "Sending"),
        "held": ("pending", "pending", "Held"),
        "retrying": ("pending", "pending", "Pending"),
        "waiting": ("pending", "pending", "Pending"),
        "sent": ("sent", "sent", "Sent"),
        "heldsent": ("sent", "sent", "Sent"),
        "failed": ("failed", "failed", "Failed"),
        "stopped": ("suppressed", "suppressed", "Suppressed"),
    }
    assert "Held — night; next try" in page


@pytest.mark.django_db
@pytest.mark.parametrize("status", [value for value, _ in Case._meta.get_field("status").choices])
def test_the_case_page_shows_the_status_label_in_its_badge(client, alice, case, status):
    Case.objects.filter(pk=case.pk).update(status=status)
    client.force_login(alice)
    page = client.get(f"/cases/{case.ref}/").content.decode()
    label = CASE_STATUS.label(status)
    assert f'<span class="status" data-status="{status}">{label}</span>' in page
    # The customer panel's list of the customer's cases shows it the same way.
    assert page.count(f'<span class="status" data-status="{status}">{label}</span>') == 2


def _rules(*paths: str) -> dict[str, str]:
    """Selector → tone of its background (``var(--ok-soft)`` → ``ok``), over stylesheets."""
    from pathlib import Path

    import lastmile

    root = Path(lastmile.__file__).parent
    rules: dict[str, str] = {}
    for path in paths:
        css = re.sub(r"/\*.*?\*/", "", (root / path).read_text(), flags=re.S)
        for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
            tone = re.search(r"background:\s*var\(--([a-z-]+?)-soft\)", body)
            if tone:
                for selector in selectors.split(","):
                    rules[" ".join(selector.split())] = tone.group(1)
    return rules


# Where each choice set's colours are drawn: the stylesheet and the badge's selectors, most
# specific first; a value without a rule of its own takes the badge's base colour.
CONSOLE = "console/static/console/console.css"
STYLESHEETS = [
    (OUTBOX_STATUS, [CONSOLE], [".outbox .status", ".status"], "data-status"),
    (CASE_STATUS, [CONSOLE], [".status"], "data-status"),
    (ALERT_STATE, ["crisis/static/crisis/crisis.css"], [".alert-state"], "data-state"),
    (PROMISE_STATE, ["promises/static/promises/promises.css"], [".promise-state"], "data-state"),
    (JOURNEY_STATE, ["journeys/static/journeys/journeys.css"], [".journey-state"], "data-state"),
]


@pytest.mark.parametrize(
    ("choice_set", "paths", "badges", "attribute"),
    STYLESHEETS,
    ids=[s.choices.__name__ for s, *_ in STYLESHEETS],
)
def test_the_stylesheet_colours_each_status_as_its_choice_set_says(
    choice_set, paths, badges, attribute
):
    rules = _rules(*paths)
    for value, _ in choice_set.choices.choices:
        shown = next(
            (
                rules[f'{badge}[{attribute}="{value}"]']
                for badge in badges
                if f'{badge}[{attribute}="{value}"]' in rules
            ),
            rules[badges[-1]],
        )
        assert shown == choice_set.colour(value), (value, shown)
