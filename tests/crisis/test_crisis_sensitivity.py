"""A detector's sensitivity is configuration: changing it goes through a service that takes
the actor and ``now`` and writes an audit row per detector changed (who, when, before,
after), from the service and from the admin alike."""

from __future__ import annotations

import pytest

from lastmile.core.errors import InvalidInput
from lastmile.core.models import AuditEntry
from lastmile.crisis import detectors as det
from lastmile.crisis.models import DetectorState
from lastmile.crisis.services.triggers import detector_sensitivity_set
from tests.crisis.mentions import term_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def term(team, now):
    return term_make(team=team, now=now)


def sensitivities(term) -> dict[str, float]:
    return dict(DetectorState.objects.filter(term=term).values_list("signal", "sensitivity"))


def test_changing_one_signals_sensitivity_records_who_and_before_and_after(term, admin_user, now):
    # Given a term whose detectors are at the default sensitivity
    detector_sensitivity_set(term=term, sensitivity=0.5, actor=admin_user, now=now)
    AuditEntry.objects.all().delete()

    # When an admin makes one signal less sensitive
    n = detector_sensitivity_set(
        term=term, signal=det.VOLUME, sensitivity=0.2, actor=admin_user, now=now
    )

    # Then that detector changed, and one audit row says who, when, before and after
    assert n == 1 and sensitivities(term)[det.VOLUME] == 0.2
    (entry,) = AuditEntry.objects.all()
    state = DetectorState.objects.get(term=term, signal=det.VOLUME)
    assert (entry.object_type, entry.object_id) == ("crisis.detectorstate", str(state.pk))
    assert (entry.actor, entry.at, entry.action) == (admin_user, now, "changed")
    assert (entry.before, entry.after) == ({"sensitivity": 0.5}, {"sensitivity": 0.2})


def test_every_signal_changed_gets_its_row_and_one_left_as_it_was_none(term, admin_user, now):
    # Given one signal already at 0.3
    detector_sensitivity_set(term=term, sensitivity=0.5, actor=admin_user, now=now)
    detector_sensitivity_set(
        term=term, signal=det.VOLUME, sensitivity=0.3, actor=admin_user, now=now
    )
    AuditEntry.objects.all().delete()

    # When the command line sets every signal to 0.3
    n = detector_sensitivity_set(term=term, sensitivity=0.3, actor=None, actor_label="cli", now=now)

    # Then each of the others has a row, labelled with who acted
    signals = det.signals_for(term.kind)
    assert n == len(signals) and set(sensitivities(term).values()) == {0.3}
    entries = list(AuditEntry.objects.all())
    assert len(entries) == len(signals) - 1
    assert {(e.actor, e.actor_label) for e in entries} == {(None, "cli")}


def test_a_sensitivity_out_of_range_writes_nothing(term, admin_user, now):
    detector_sensitivity_set(term=term, sensitivity=0.5, actor=admin_user, now=now)
    AuditEntry.objects.all().delete()

    with pytest.raises(InvalidInput):
        detector_sensitivity_set(term=term, sensitivity=1.0, actor=admin_user, now=now)

    assert set(sensitivities(term).values()) == {0.5}
    assert not AuditEntry.objects.exists()


def test_the_admins_editable_column_saves_through_the_service(term, staff, admin_user, now):
    # Given a term's detector states, as the triggers make them
    detector_sensitivity_set(term=term, sensitivity=0.5, actor=admin_user, now=now)
    AuditEntry.objects.all().delete()
    state = DetectorState.objects.get(term=term, signal=det.VOLUME)

    # When an admin changes its sensitivity in the list
    r = staff.post(
        "/admin/crisis/detectorstate/",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(state.pk),
            "form-0-sensitivity": "0.25",
            "_save": "Save",
        },
    )

    # Then it is changed and audited with the admin as the actor
    assert r.status_code == 302, r.content.decode()[:2000]
    assert sensitivities(term)[det.VOLUME] == 0.25
    (entry,) = AuditEntry.objects.all()
    assert entry.actor == admin_user and entry.object_id == str(state.pk)
    assert (entry.before, entry.after) == ({"sensitivity": 0.5}, {"sensitivity": 0.25})


def test_a_bad_sensitivity_in_the_admin_is_a_form_error_and_writes_nothing(
    term, staff, admin_user, now
):
    detector_sensitivity_set(term=term, sensitivity=0.5, actor=admin_user, now=now)
    AuditEntry.objects.all().delete()
    state = DetectorState.objects.get(term=term, signal=det.VOLUME)

    r = staff.post(
        "/admin/crisis/detectorstate/",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(state.pk),
            "form-0-sensitivity": "1.5",
            "_save": "Save",
        },
    )

    assert r.status_code == 200
    assert sensitivities(term)[det.VOLUME] == 0.5
    assert not AuditEntry.objects.exists()
