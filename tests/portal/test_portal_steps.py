"""The portal's journeys, promises, customer steps and help: what a customer sees and does."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from lastmile.cases.services import case_create
from lastmile.journeys.models import JourneyStep, StepState
from lastmile.journeys.services import journey_start, template_save
from lastmile.knowledge.services import article_create
from lastmile.loops.models import LoopState
from lastmile.promises.services import promise_record
from tests.people.factories import AgentFactory, TeamFactory
from tests.portal.fixtures import signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("portal_clock")]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def uploads_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path / "portal-uploads"


@pytest.fixture
def template(team, other_team, now):
    definition = {
        "name": "Open an account",
        "slug": "open-account",
        "steps": [
            {
                "key": "docs",
                "title": "Upload your proof of address",
                "team": "front",
                "customer_action": "upload",
                "instructions": "A utility bill from the last three months.",
            },
            {
                "key": "kyc",
                "title": "Check identity",
                "team": "back",
                "depends_on": ["docs"],
                "customer_visible": True,
                "sla_minutes": 240,
            },
            {"key": "internal", "title": "Risk notes", "team": "back", "depends_on": ["docs"]},
            {
                "key": "slot",
                "title": "Choose a time for the welcome call",
                "team": "front",
                "depends_on": ["kyc"],
                "customer_action": "choose_slot",
            },
            {
                "key": "terms",
                "title": "Accept the account terms",
                "team": "front",
                "depends_on": ["kyc"],
                "customer_action": "confirm",
            },
        ],
    }
    return template_save(definition=definition, now=now)[0]


@pytest.fixture
def ann_case(ann, team, now):
    return case_create(customer=ann, subject="New current account", team=team, now=now)


@pytest.fixture
def journey(template, ann_case, alice, now):
    return journey_start(template=template, case=ann_case, actor=alice, now=now)


def step(journey, key):
    return JourneyStep.objects.select_related("loop").get(journey=journey, key=key)


def promised_by_phone(case, text, agent, now):
    """``agent`` promised ``text`` by phone on ``case``, for its team, due in two days."""
    return promise_record(
        text=text,
        terms={},
        due_at=now + timedelta(days=2),
        team=case.team,
        channel="phone",
        case=case,
        made_by=agent,
        actor=agent,
        now=now,
    )


def step_url(journey, key):
    return f"/portal/journeys/{journey.pk}/steps/{key}/"


def test_home_shows_steps_waiting_for_the_customer_and_the_journey(client, ann, journey, now):
    page = signed_in(client, ann, now).get("/portal/").content.decode()
    assert "Waiting for you" in page
    assert "Upload your proof of address" in page
    assert step_url(journey, "docs") in page
    assert "Check identity" in page and "Back office" in page  # who owns the step
    assert "Risk notes" not in page  # not visible to the customer


def test_home_shows_promises_with_who_made_them(client, ann, ann_case, alice, team, now):
    promised_by_phone(ann_case, "We will waive the first month's fee", alice, now)
    page = signed_in(client, ann, now).get("/portal/").content.decode()
    assert "We will waive the first month&#x27;s fee" in page
    assert "by phone" in page and "Front office is responsible" in page


def test_uploading_the_document_completes_the_step_and_opens_the_next(
    client, ann, journey, uploads_dir, now
):
    signed_in(client, ann, now)
    upload = SimpleUploadedFile("bill.png", PNG, content_type="image/png")
    response = client.post(step_url(journey, "docs"), {"file": upload})
    assert response.status_code == 302
    docs = step(journey, "docs")
    assert docs.state == StepState.DONE and docs.completed_by_customer
    assert docs.loop.state == LoopState.CLOSED
    stored = list(uploads_dir.rglob("*bill.png"))
    assert len(stored) == 1 and stored[0].read_bytes() == PNG
    assert docs.data["name"] == "bill.png"
    assert step(journey, "kyc").state == StepState.OPEN
    page = client.get(step_url(journey, "docs")).content.decode()
    assert "We received bill.png" in page


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("notes.txt", b"just some text", "must be a PDF, PNG or JPEG file"),
        ("big.png", PNG + b"\x00" * 2048, "at most"),
    ],
)
def test_a_refused_upload_says_why_and_keeps_nothing(
    client, ann, journey, uploads_dir, settings, name, content, reason, now
):
    settings.LASTMILE_PORTAL_UPLOAD_MAX_BYTES = 1024
    signed_in(client, ann, now)
    response = client.post(step_url(journey, "docs"), {"file": SimpleUploadedFile(name, content)})
    assert response.status_code == 422
    assert reason in response.content.decode()
    assert step(journey, "docs").state == StepState.OPEN
    assert not any(p.is_file() for p in uploads_dir.rglob("*"))


def test_a_body_over_the_servers_limit_gets_a_page_not_json(client, ann, journey, settings, now):
    settings.LASTMILE_MAX_BODY_BYTES = 8 * 1024
    signed_in(client, ann, now)
    upload = SimpleUploadedFile("scan.png", PNG + b"\x00" * 16 * 1024)
    response = client.post(step_url(journey, "docs"), {"file": upload})
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert "choose a smaller one" in response.content.decode()
    assert step(journey, "docs").state == StepState.OPEN


def test_an_upload_without_a_file_is_refused(client, ann, journey, now):
    response = signed_in(client, ann, now).post(step_url(journey, "docs"), {})
    assert response.status_code == 422
    assert "choose a file" in response.content.decode().lower()
    assert step(journey, "docs").state == StepState.OPEN


def test_a_teams_step_shows_the_customer_no_notes_data_or_form(client, ann, journey, now):
    from lastmile.journeys.services import step_complete, step_complete_by_customer

    step_complete_by_customer(
        step=step(journey, "docs"), customer=ann, data={"file": "x/bill.png"}, now=now
    )
    kyc = step(journey, "kyc")
    kyc.instructions = "Check the address against the risk list"
    kyc.save(update_fields=["instructions"])
    signed_in(client, ann, now)
    page = client.get(step_url(journey, "kyc")).content.decode()
    assert "Check identity" in page and "nothing is needed from you" in page
    assert "risk list" not in page and '<form method="post">' not in page
    step_complete(
        step=kyc,
        note="RISK: medium",
        data={"name": "INTERNAL-RISK-NOTE", "slot": "SECRET"},
        now=now,
    )
    page = client.get(step_url(journey, "kyc")).content.decode()
    assert "Done" in page
    assert "INTERNAL-RISK-NOTE" not in page and "SECRET" not in page and "RISK" not in page


def _finish_docs_and_kyc(journey, ann, now):
    from lastmile.journeys.services import step_complete, step_complete_by_customer

    step_complete_by_customer(
        step=step(journey, "docs"), customer=ann, data={"file": "x/bill.png"}, now=now
    )
    step_complete(step=step(journey, "kyc"), actor=None, note="ID checked", now=now)


def test_the_customer_chooses_a_slot_and_confirms_terms(client, ann, journey, now):
    from lastmile.journeys.services import step_windows_offer

    _finish_docs_and_kyc(journey, ann, now)
    start, end = now + timedelta(days=1), now + timedelta(days=1, hours=1)
    step_windows_offer(step=step(journey, "slot"), windows=[(start, end)], now=now)
    signed_in(client, ann, now)
    assert client.post(step_url(journey, "slot"), {"slot": ""}).status_code == 422
    assert client.post(step_url(journey, "slot"), {"slot": "Tue 1 Dec, 10:00"}).status_code == 422
    chosen = f"{start.isoformat()}/{end.isoformat()}"
    assert client.post(step_url(journey, "slot"), {"slot": chosen}).status_code == 302
    assert step(journey, "slot").data == {
        "slot": {"start": start.isoformat(), "end": end.isoformat()}
    }
    assert client.post(step_url(journey, "terms"), {}).status_code == 422
    assert step(journey, "terms").state == StepState.OPEN
    assert client.post(step_url(journey, "terms"), {"confirmed": "yes"}).status_code == 302
    assert step(journey, "terms").state == StepState.DONE


def test_a_step_not_yet_open_shows_why_and_refuses_an_answer(client, ann, journey, now):
    signed_in(client, ann, now)
    page = client.get(step_url(journey, "terms"))
    assert page.status_code == 200
    assert "opens when the steps before it are done" in page.content.decode()
    assert client.post(step_url(journey, "terms"), {"confirmed": "yes"}).status_code == 409
    assert step(journey, "terms").state == StepState.PENDING


def test_another_customer_and_nobody_get_nothing_of_the_step(client, ann, ben, journey, now):
    for url in (step_url(journey, "docs"), step_url(journey, "kyc")):
        assert client.get(url).status_code == 403
        assert client.post(url, {"confirmed": "yes"}).status_code == 403
    signed_in(client, ben, now)
    for url in (
        step_url(journey, "docs"),
        step_url(journey, "internal"),
        "/portal/journeys/999999/steps/docs/",
    ):
        response = client.get(url)
        assert response.status_code == 404
        assert "Upload your proof" not in response.content.decode()
    assert client.post(step_url(journey, "docs"), {"confirmed": "yes"}).status_code == 404
    assert step(journey, "docs").state == StepState.OPEN
    assert "Open an account" not in client.get("/portal/").content.decode()


def test_an_agent_only_step_cannot_be_done_from_the_portal(client, ann, journey, alice, now):
    from lastmile.journeys.services import step_complete_by_customer

    step_complete_by_customer(
        step=step(journey, "docs"), customer=ann, data={"file": "x/bill.png"}, now=now
    )
    signed_in(client, ann, now)
    assert client.post(step_url(journey, "kyc"), {"confirmed": "yes"}).status_code == 404
    assert step(journey, "kyc").state == StepState.OPEN


def test_a_late_step_says_so(client, ann, journey, now):
    from lastmile.journeys.services import step_complete_by_customer

    step_complete_by_customer(
        step=step(journey, "docs"), customer=ann, data={"file": "x/bill.png"}, now=now
    )
    assert step(journey, "kyc").loop.due_at is not None
    signed_in(client, ann, now)
    assert "late</span>" not in client.get("/portal/").content.decode()
    later = now + timedelta(days=30)
    with time_machine.travel(later, tick=False):
        signed_in(client, ann, later)
        assert "late</span>" in client.get("/portal/").content.decode()


def test_the_case_page_shows_its_journey(client, ann, ann_case, journey, now):
    page = signed_in(client, ann, now).get(f"/portal/cases/{ann_case.ref}/").content.decode()
    assert "Open an account" in page and "Check identity" in page


def test_public_articles_are_readable_and_internal_ones_are_not(client, team, now):
    article_create(
        title="How to find your sort code",
        body_md="It is on your **card** <script>alert(1)</script>",
        public=True,
        team=team,
        now=now,
        slug="sort-code",
    )
    article_create(title="Fraud playbook", body_md="internal", team=team, now=now, slug="fraud")
    index = client.get("/portal/help/?q=sort+code").content.decode()
    assert "How to find your sort code" in index and "Fraud playbook" not in index
    page = client.get("/portal/help/sort-code/")
    assert page.status_code == 200
    assert "<strong>card</strong>" in page.content.decode()
    assert "<script>" not in page.content.decode()
    assert client.get("/portal/help/fraud/").status_code == 404
    assert "No articles match" in client.get("/portal/help/?q=zebra").content.decode()


# Every portal URL, with the customer-scoped ones filled in with Ann's objects. A new URL
# must be added here (the first test fails otherwise), so none escapes the isolation check.
PUBLIC = {"start", "sign_out", "help", "article"}  # the link, the exit, public help
AGENTS = {"send_link", "upload", "case_title"}  # staff login; tested here, test_portal*.py
SCOPED = {
    "home": lambda j: {},
    "case": lambda j: {"ref": j.case.ref},
    "case_message": lambda j: {"ref": j.case.ref},
    "step": lambda j: {"journey_id": j.pk, "key": "docs"},
    "job": lambda j: {"job_id": _delivery_for(j.case).pk},
    "survey": lambda j: {"invite_id": _survey_invite_for(j.case).pk},
}


def _survey_invite_for(case):
    """A portal survey invite of the case's customer."""
    from lastmile.feedback.services import invite_create
    from tests.feedback.factories import SurveyFactory

    survey = SurveyFactory(team=case.team, channel="portal")
    return invite_create(
        survey=survey, customer=case.customer, channel="portal", case=case, now=case.created_at
    )[0]


def _delivery_for(case):
    """A delivery of the case's customer, in a slot of the case's team a day ahead."""
    from lastmile.jobs.services import job_create, slot_create

    start = case.created_at + timedelta(days=1)
    slot = slot_create(
        team=case.team, starts_at=start, ends_at=start + timedelta(hours=2), capacity=1
    )
    return job_create(
        kind="delivery",
        customer=case.customer,
        team=case.team,
        window_start=slot.starts_at,
        window_end=slot.ends_at,
        address="1 High Street",
        case=case,
        actor=None,
        now=case.created_at,
    )


def test_every_portal_url_is_either_public_or_checked_here():
    from lastmile.portal.urls import urlpatterns

    assert {p.name for p in urlpatterns} == PUBLIC | AGENTS | set(SCOPED)


@pytest.mark.parametrize("name", sorted(SCOPED))
def test_every_customer_url_refuses_nobody_and_hides_from_another_customer(
    client, ann, ben, journey, name, now
):
    from django.urls import reverse

    url = reverse(f"portal:{name}", kwargs=SCOPED[name](journey))
    for method in (client.get, client.post):
        assert method(url).status_code == 403
    signed_in(client, ben, now)
    for method in (client.get, client.post):
        response = method(url, {"body": "hello", "confirmed": "yes"})
        body = response.content.decode()
        assert response.status_code in (200, 404, 405), (name, response.status_code)
        assert "New current account" not in body and "Upload your proof" not in body
    assert step(journey, "docs").state == StepState.OPEN
    assert not journey.case.interactions.exists()


def _upload_through_portal(client, ann, journey, now):
    signed_in(client, ann, now)
    upload = SimpleUploadedFile("bill.png", PNG, content_type="image/png")
    assert client.post(step_url(journey, "docs"), {"file": upload}).status_code == 302
    client.logout()


def test_the_case_team_opens_the_uploaded_file_from_the_journey(client, ann, journey, alice, now):
    _upload_through_portal(client, ann, journey, now)
    client.force_login(alice)
    page = client.get(f"/cases/{journey.case.ref}/").content.decode()
    url = f"/portal/uploads/{journey.pk}/docs/"
    assert url in page and "open bill.png" in page
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content) == PNG


@pytest.mark.parametrize(
    "their_name, content, expected",
    [
        ("x.html", PNG, "x.png"),  # a PNG named to open as a web page on the agent's machine
        ("statement.PDF.exe", b"%PDF-1.7\n%%EOF", "statement.PDF.pdf"),
        ("photo", b"\xff\xd8\xff\xe0 jpeg", "photo.jpg"),
        ("../../.htaccess", PNG, "upload.png"),
    ],
)
def test_the_download_is_named_for_the_type_read_from_the_file_not_the_customers_name(
    client, ann, journey, alice, now, their_name, content, expected
):
    # Given a customer uploads a file whose name claims another type
    signed_in(client, ann, now)
    upload = SimpleUploadedFile(their_name, content, content_type="text/html")
    assert client.post(step_url(journey, "docs"), {"file": upload}).status_code == 302
    client.logout()
    # When an agent downloads it
    client.force_login(alice)
    response = client.get(f"/portal/uploads/{journey.pk}/docs/")
    # Then the file opens as what it is
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{expected}"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_uploaded_file_is_not_for_customers_outsiders_or_other_steps(
    client, ann, journey, charlie, now
):
    _upload_through_portal(client, ann, journey, now)
    url = f"/portal/uploads/{journey.pk}/docs/"
    signed_in(client, ann, now)  # a portal session is not a staff login
    assert client.get(url).status_code == 302
    client.logout()
    outsider = TeamFactory(name="Elsewhere", slug="elsewhere")
    stranger = AgentFactory(user__username="stranger", teams=[outsider]).user
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    client.force_login(charlie)  # the back office has the KYC step: it sees the journey
    assert client.get(url).status_code == 200
    assert client.get(f"/portal/uploads/{journey.pk}/kyc/").status_code == 404
    assert client.post(url).status_code == 405


def test_only_a_file_the_customer_uploaded_is_served(client, ann, ben, team, alice, now):
    """An agent cannot point a step at a file of another customer's and serve it."""
    from lastmile.journeys.services import step_complete
    from lastmile.portal.services import upload_store

    bens = upload_store(customer=ben, name="ben.png", content=PNG)
    other = template_save(
        definition={
            "name": "Docs by hand",
            "slug": "docs-by-hand",
            "steps": [
                {"key": "docs", "title": "Docs", "team": "front", "customer_action": "upload"}
            ],
        },
        now=now,
    )[0]
    case = case_create(customer=ann, subject="Another", team=team, now=now)
    journey = journey_start(template=other, case=case, actor=alice, now=now)
    step_complete(step=step(journey, "docs"), actor=alice, data={"file": bens["file"]}, now=now)
    client.force_login(alice)
    assert client.get(f"/portal/uploads/{journey.pk}/docs/").status_code == 404


def test_the_home_page_reads_in_the_same_queries_for_one_journey_or_three(
    client, ann, team, alice, template, now
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def home_queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/portal/").status_code == 200
        return len(ctx)

    def another_journey(n):
        case = case_create(customer=ann, subject=f"Account {n}", team=team, now=now)
        journey_start(template=template, case=case, actor=alice, now=now)
        promised_by_phone(case, f"Promise {n}", alice, now)

    another_journey(1)
    signed_in(client, ann, now)
    one = home_queries()
    another_journey(2)
    another_journey(3)
    assert home_queries() == one


def test_a_case_page_shows_only_that_cases_journeys_and_promises(
    client, ann, ann_case, journey, team, alice, template, now
):
    other = case_create(customer=ann, subject="Savings account", team=team, now=now)
    for case, text in ((ann_case, "Fee waived"), (other, "Rate matched")):
        promised_by_phone(case, text, alice, now)
    signed_in(client, ann, now)
    page = client.get(f"/portal/cases/{other.ref}/").content.decode()
    assert "Rate matched" in page
    assert "Fee waived" not in page and "Open an account" not in page


def test_the_home_page_shows_the_newest_journeys_up_to_its_limit(
    client, ann, team, alice, template, monkeypatch, now
):
    monkeypatch.setattr("lastmile.portal.selectors.JOURNEYS_ON_HOME", 2)
    for n in range(3):
        case = case_create(customer=ann, subject=f"Account {n}", team=team, now=now)
        journey_start(template=template, case=case, actor=alice, now=now + timedelta(minutes=n))
    page = signed_in(client, ann, now).get("/portal/").content.decode()
    assert page.count('class="card journey"') == 2
