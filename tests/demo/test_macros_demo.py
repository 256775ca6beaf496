"""The demo's macros and tags: the composer's picker and the tag filter have something to show."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.test import override_settings

from lastmile.cases.models import Case
from lastmile.cases.selectors import case_tag_names
from lastmile.demo import seed as demo_seed
from lastmile.demo.extensions import macros
from lastmile.macros.models import Macro

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 19, 31, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """A small demo with only the macros' part after the core stories, rolled back after."""
    with django_db_blocker.unblock(), transaction.atomic():
        saved = list(demo_seed.DEMO_EXTENSIONS)
        demo_seed.DEMO_EXTENSIONS[:] = [macros]
        try:
            with override_settings(
                PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
            ):
                out: list[str] = []
                # No background customers: what is checked here is the story cases' tags.
                report = demo_seed.seed_demo(seed=7, customers=0, now=NOW, out=out.append)
        finally:
            demo_seed.DEMO_EXTENSIONS[:] = saved
        yield SimpleNamespace(report=report, out=out)
        transaction.set_rollback(True)


def test_macros_are_shared_with_teams_and_one_is_personal(demo):
    shared = set(Macro.objects.filter(team__isnull=False).values_list("team__slug", flat=True))
    assert shared == {"front", "back"}
    personal = Macro.objects.get(owner__isnull=False)
    assert personal.owner.username == "front"
    assert Macro.objects.get(name="Waiting on the customer").pause_reply_loop


def test_the_story_cases_carry_tags(demo):
    ref = demo.report.stories["bank"][0]
    case = Case.objects.get(number=int(ref.split("-")[1]))
    assert case_tag_names(case_ids=[case.pk])[case.pk] == ["online-banking", "vip"]
    assert any("macros: 4" in line for line in demo.out)
