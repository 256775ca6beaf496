"""Every page carries a Content-Security-Policy that forbids inline script, and no page needs
inline script: each URL of the site is requested from the URL resolver, so a new page is
checked without being listed (a new URL with parameters must say here how to fill them)."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from django.contrib import admin
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from lastmile.core.clock import utcnow
from tests.demo_snapshot import NOW, demo_restore
from tests.portal.fixtures import signed_in

pytestmark = pytest.mark.django_db


def test_the_policy_allows_only_the_sites_own_scripts_and_styles(client):
    policy = client.get("/login/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'self'"


def test_pages_say_nosniff_and_keep_the_referrer_on_the_site(client):
    response = client.get("/login/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_the_413_page_of_the_body_limit_carries_the_policy_too(client, settings):
    settings.LASTMILE_MAX_BODY_BYTES = 10
    response = client.post("/portal/help/", {"q": "x" * 100})
    assert response.status_code == 413
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert inline_code(response.content.decode()) == []


class _InlineCode(HTMLParser):
    """Collects what a script-src/style-src of 'self' would block: <script> without src,
    on* handler attributes, javascript: links, <style> elements and style attributes."""

    DATA_BLOCKS = {"application/json", "application/ld+json"}

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and "src" not in names and names.get("type") not in self.DATA_BLOCKS:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name == "style":
                self.found.append(f"<{tag} style=...>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}=javascript:...>")


def inline_code(html: str) -> list[str]:
    parser = _InlineCode()
    parser.feed(html)
    return parser.found


def test_the_inline_code_finder_finds_what_it_should():
    html = (
        '<script>alert(1)</script><script src="/s.js"></script>'
        '<script type="application/json">{}</script><select onchange="x()"></select>'
        '<a href="javascript:history.back()">b</a><style>p{}</style><p style="color:red"></p>'
    )
    assert inline_code(html) == [
        "<script> without src",
        "<select onchange=...>",
        "<a href=javascript:...>",
        "<style> element",
        "<p style=...>",
    ]


# --- every URL of the site -------------------------------------------------------------

SKIPPED_NAMESPACES = {"api", "admin"}  # the API answers JSON (checked below); admin apart


def site_urls() -> list[tuple[str, str, list[str]]]:
    """(route, name, parameter names) of every URL outside the API and the admin."""
    found: list[tuple[str, str, list[str]]] = []

    def walk(patterns, prefix, namespace):  # type: ignore[no-untyped-def]
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = p.namespace or namespace
                if ns and ns.split(":")[0] in SKIPPED_NAMESPACES | {"api-1.0.0"}:
                    continue
                if str(p.pattern).startswith(("api/", "^api/", "admin/")):
                    continue
                walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                if route.startswith("^api/"):
                    continue
                name = f"{namespace}:{p.name}" if namespace else (p.name or route)
                found.append((route, name, list(p.pattern.converters)))

    walk(get_resolver().url_patterns, "", None)
    return found


def _step(w):  # type: ignore[no-untyped-def]
    return {"journey_id": w.journey.pk, "key": w.step.key}


def _funnel(w):  # type: ignore[no-untyped-def]
    return {"funnel_id": w.funnel.pk}


# How to fill the parameters of each URL that has some, from the seeded demo.
KWARGS = {
    "mail:email": lambda w: {"email_id": w.email.pk},
    "mail:email_raw": lambda w: {"email_id": w.email.pk},
    "mail:attachment": lambda w: {"attachment_id": w.attachment.pk},
    "webhooks:inbound": lambda w: {"slug": "nobody"},
    "listening:author": lambda w: {"author_id": w.author.pk},
    "listening:dismiss": lambda w: {"mention_id": w.mention.pk},
    "crisis:room": lambda w: {"alert_id": w.alert.pk},
    "crisis:acknowledge": lambda w: {"alert_id": w.alert.pk},
    "crisis:resolve": lambda w: {"alert_id": w.alert.pk},
    "crisis:bulk": lambda w: {"alert_id": w.alert.pk},
    "crisis:note_create": lambda w: {"alert_id": w.alert.pk},
    "crisis:note_update": lambda w: {"alert_id": w.alert.pk},
    "crisis:note_update_publish": lambda w: {"alert_id": w.alert.pk, "update_id": 1},
    "crisis:note_unpublish": lambda w: {"alert_id": w.alert.pk},
    "crisis:status": lambda w: {"slug": w.status_slug},
    "crisis:None": lambda w: {"slug": w.status_slug},
    "promises:case_record": lambda w: {"ref": w.case.ref},
    "promises:detail": lambda w: {"promise_id": w.promise.pk},
    "promises:keep": lambda w: {"promise_id": w.promise.pk},
    "promises:break": lambda w: {"promise_id": w.promise.pk},
    "promises:renegotiate": lambda w: {"promise_id": w.promise.pk},
    "promises:approve": lambda w: {"promise_id": w.promise.pk},
    "promises:reject": lambda w: {"promise_id": w.promise.pk},
    "knowledge:detail": lambda w: {"slug": w.article.slug},
    "knowledge:edit": lambda w: {"slug": w.article.slug},
    "journeys:start": lambda w: {"ref": w.case.ref},
    "journeys:complete": _step,
    "journeys:windows": _step,
    "journeys:cancel": lambda w: {"journey_id": w.journey.pk},
    "portal:start": lambda w: {"token": "not-a-token"},
    "portal:send_link": lambda w: {"customer_id": w.customer.pk},
    "portal:case_title": lambda w: {"ref": w.case.ref},
    "portal:case": lambda w: {"ref": w.journey.case.ref},
    "portal:case_message": lambda w: {"ref": w.journey.case.ref},
    "portal:step": _step,
    "portal:upload": _step,
    "portal:article": lambda w: {"slug": w.public_article.slug},
    "console:case": lambda w: {"ref": w.case.ref},
    "console:case_reply": lambda w: {"ref": w.case.ref},
    "console:case_note": lambda w: {"ref": w.case.ref},
    "console:case_task": lambda w: {"ref": w.case.ref},
    "console:case_status": lambda w: {"ref": w.case.ref},
    "console:case_loop_close": lambda w: {"ref": w.case.ref, "loop_id": w.loop.pk},
    "console:case_loop_pause": lambda w: {"ref": w.case.ref, "loop_id": w.loop.pk},
    "console:case_loop_resume": lambda w: {"ref": w.case.ref, "loop_id": w.loop.pk},
    "console:customer": lambda w: {"customer_id": w.customer.pk},
    "console:customer_timeline": lambda w: {"customer_id": w.customer.pk},
    "console:customer_loop_close": lambda w: {"customer_id": w.customer.pk, "loop_id": w.loop.pk},
    "console:customer_loop_pause": lambda w: {"customer_id": w.customer.pk, "loop_id": w.loop.pk},
    "console:customer_loop_resume": lambda w: {
        "customer_id": w.customer.pk,
        "loop_id": w.loop.pk,
    },
    "console:case_thread": lambda w: {"ref": w.case.ref},
    "console:case_take": lambda w: {"ref": w.case.ref},
    "console:case_assign": lambda w: {"ref": w.case.ref},
    "console:case_move": lambda w: {"ref": w.case.ref},
    "console:case_priority": lambda w: {"ref": w.case.ref},
    "console:case_subject": lambda w: {"ref": w.case.ref},
    "console:case_tags": lambda w: {"ref": w.case.ref},
    "console:case_view_delete": lambda w: {"view_id": 1},
    "console:customer_merges": lambda w: {"customer_id": w.customer.pk},
    "console:customer_merge": lambda w: {"customer_id": w.customer.pk},
    "console:customer_merge_undo": lambda w: {"merge_id": 1},
    "console:customer_merge_find": lambda w: {"customer_id": w.customer.pk},
    "console:customer_merge_confirm": lambda w: {"customer_id": w.customer.pk},
    "live:beat": lambda w: {"ref": w.case.ref},
    "live:leave": lambda w: {"ref": w.case.ref},
    "live:read": lambda w: {"notification_id": 1},
    "live:case_seen": lambda w: {"ref": w.case.ref},
    "macros:edit": lambda w: {"macro_id": 1},
    "macros:delete": lambda w: {"macro_id": 1},
    "demo:sink": lambda w: {"slug": "nobody"},
    "funnels:detail": _funnel,
    "funnels:steps_csv": _funnel,
    "funnels:trend_csv": _funnel,
    "funnels:dropoffs_csv": _funnel,
    "funnels:edit": _funnel,
    "funnels:archive": _funnel,
    "recovery:detail": lambda w: {"recovery_id": w.recovery.pk if w.recovery else 1},
    "jobs:driver_start": lambda w: {"job_id": w.job.pk},
    "jobs:driver_arrive": lambda w: {"job_id": w.job.pk},
    "jobs:driver_complete": lambda w: {"job_id": w.job.pk},
    "jobs:driver_fail": lambda w: {"job_id": w.job.pk},
    "jobs:driver_proof": lambda w: {"job_id": w.job.pk},
    "jobs:tracking": lambda w: {"token": w.job.tracking_token},
    "jobs:tracking_invoice": lambda w: {"token": w.job.tracking_token},
    "jobs:driver_change": lambda w: {"job_id": w.job.pk},
    "jobs:driver_change_accept": lambda w: {"job_id": w.job.pk, "ref": "chg-none"},
    "jobs:driver_change_decline": lambda w: {"job_id": w.job.pk, "ref": "chg-none"},
    "portal:survey": lambda w: {"invite_id": w.invite.pk},
    "feedback:respond": lambda w: {"token": "not-a-token"},
    "portal:job": lambda w: {"job_id": w.job.pk},
    "scorecards:pay-dispute-answer": lambda w: {"dispute_id": 1},
    "coaching:detail": lambda w: {"lesson_id": w.lesson.pk},
    "coaching:submit": lambda w: {"lesson_id": w.lesson.pk},
    "coaching:accept": lambda w: {"lesson_id": w.lesson.pk},
    "coaching:return": lambda w: {"lesson_id": w.lesson.pk},
    "training:case": lambda w: {"case_id": w.practice_case.pk},
    "training:check": lambda w: {"case_id": w.practice_case.pk},
    "training:attempt": lambda w: {"attempt_id": w.practice_attempt.pk},
    "training:path": lambda w: {"slug": "front"},
    "responders:reply_mention": lambda w: {"mention_id": w.mention.pk},
    "responders:reply_case": lambda w: {"ref": w.case.ref},
    "responders:approve": lambda w: {"reply_id": w.responder_reply.pk},
    "responders:return": lambda w: {"reply_id": w.responder_reply.pk},
    "responders:scorecard": lambda w: {"username": "store"},
}
# Pages an agent opens (200, HTML); the portal's are opened as the demo's customer.
AGENT_PAGES = {
    "console:inbox",
    "scorecards:page",
    "scorecards:loops",
    "scorecards:qa",
    "scorecards:dashboard",
    "scorecards:pay",
    "scorecards:digest",
    "coaching:index",
    "coaching:detail",
    "training:index",
    "training:case_new",
    "training:case",
    "training:attempt",
    "training:path",
    "responders:index",
    "responders:approvals",
    "responders:scorecard",
    "feedback:reasons",
    "macros:list",
    "macros:new",
    "console:cases",
    "console:case",
    "console:customer",
    "console:customer_timeline",
    "listening:mentions",
    "listening:unattended",
    "listening:influencers",
    "listening:author",
    "crisis:alerts",
    "crisis:room",
    "crisis:status",
    "promises:index",
    "promises:detail",
    "knowledge:index",
    "knowledge:create",
    "knowledge:detail",
    "knowledge:edit",
    "journeys:board",
    "funnels:list",
    "funnels:adhoc",
    "funnels:detail",
    "recovery:close_rate",
    "jobs:driver",
    "jobs:tracking",
    "search:results",
    "live:notifications",
    "mail:email",
    "portal:help",
    "portal:article",
}
CUSTOMER_PAGES = {
    "portal:home",
    "portal:case",
    "portal:step",
    "portal:help",
    "portal:article",
    "portal:job",
    "portal:survey",
}


@pytest.fixture(scope="module")
def demo(demo_snapshot, django_db_blocker):
    """The run's one seeded demo (tests/demo_snapshot.py) for the module, rolled back
    afterwards."""
    from lastmile.cases.models import Case
    from lastmile.coaching.models import Lesson
    from lastmile.crisis.models import Alert, IncidentNote
    from lastmile.feedback.services import invite_create, survey_create
    from lastmile.funnels.models import Funnel
    from lastmile.jobs.services import job_create, slot_create
    from lastmile.journeys.models import Journey
    from lastmile.knowledge.models import Article
    from lastmile.listening.models import Author, Mention
    from lastmile.loops.models import LoopState
    from lastmile.mail.models import Attachment, EmailMessage
    from lastmile.people.models import Team
    from lastmile.promises.models import Promise
    from lastmile.recovery.models import Recovery
    from lastmile.responders.models import ResponderReply
    from lastmile.training.models import PracticeAttempt, PracticeCase

    with django_db_blocker.unblock(), transaction.atomic():
        demo_restore(demo_snapshot)
        case = next(c for c in Case.objects.order_by("pk") if c.loops.filter(state="open"))
        journey = Journey.objects.order_by("pk").first()
        note = IncidentNote.objects.order_by("pk").first()
        # A delivery for the journey's customer, for the driver's, tracking and portal pages.
        crew = journey.case.team or Team.objects.order_by("pk").first()
        slot = slot_create(
            team=crew,
            starts_at=NOW + timedelta(days=1),
            ends_at=NOW + timedelta(days=1, hours=2),
            capacity=3,
        )
        job = job_create(
            kind="delivery",
            customer=journey.case.customer,
            team=crew,
            window_start=slot.starts_at,
            window_end=slot.ends_at,
            address="1 High Street, Leeds",
            case=journey.case,
            actor=None,
            now=NOW,
        )
        # A survey waiting in the journey customer's portal.
        survey = survey_create(
            actor=None, now=NOW, name="Headers", kind="csat", team=crew, trigger="manual"
        )
        invite, _ = invite_create(
            survey=survey, customer=journey.case.customer, channel="portal", now=NOW
        )
        yield SimpleNamespace(
            case=case,
            customer=case.customer,
            loop=case.loops.filter(state=LoopState.OPEN).first(),
            email=EmailMessage.objects.order_by("pk").first(),
            attachment=Attachment.objects.order_by("pk").first(),
            author=Author.objects.order_by("pk").first(),
            mention=Mention.objects.order_by("pk").first(),
            alert=Alert.objects.order_by("pk").first(),
            status_slug=note.slug if note else "none",
            promise=Promise.objects.order_by("pk").first(),
            article=Article.objects.order_by("pk").first(),
            public_article=Article.objects.filter(public=True).order_by("pk").first(),
            journey=journey,
            step=journey.steps.order_by("pk").first() if journey else None,
            funnel=Funnel.objects.order_by("pk").first(),
            recovery=Recovery.objects.order_by("pk").first(),
            job=job,
            invite=invite,
            lesson=Lesson.objects.order_by("pk").first(),
            practice_case=PracticeCase.objects.order_by("pk").first(),
            practice_attempt=PracticeAttempt.objects.order_by("pk").first(),
            responder_reply=ResponderReply.objects.order_by("pk").first(),
        )
        transaction.set_rollback(True)


def test_every_url_with_parameters_is_filled_here():
    missing = [name for _, name, params in site_urls() if params and name not in KWARGS]
    assert missing == [], f"say in KWARGS how to fill the parameters of {missing}"


def _check(response, url: str, must_be_page: bool) -> list[str]:
    problems = []
    policy = response.get("Content-Security-Policy", "")
    is_html = response.get("Content-Type", "").startswith("text/html")
    # A download may carry a stricter policy of its own (``sandbox``); a page carries ours.
    if not policy or (is_html and "script-src 'self'" not in policy):
        problems.append(f"{url}: no Content-Security-Policy ({response.status_code})")
    if must_be_page and (response.status_code != 200 or not is_html):
        problems.append(f"{url}: expected an HTML page, got {response.status_code}")
    if is_html and not getattr(response, "streaming", False):
        problems += [f"{url}: {what}" for what in inline_code(response.content.decode())]
    return problems


def _url(name: str, demo) -> str:  # type: ignore[no-untyped-def]
    kwargs = KWARGS[name](demo) if name in KWARGS else {}
    if name == "crisis:None":
        return f"/status/{kwargs['slug']}/"
    return reverse(name, kwargs=kwargs)


def test_every_page_an_agent_opens_has_the_policy_and_no_inline_code(client, demo):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="demo"))
    problems: list[str] = []
    for _, name, _ in site_urls():
        if name in ("console:logout", "portal:sign_out"):
            continue  # would end the session the rest of the walk needs
        url = _url(name, demo)
        problems += _check(client.get(url), url, name in AGENT_PAGES)
    assert problems == []


def test_every_portal_page_a_customer_opens_has_the_policy_and_no_inline_code(client, demo):
    signed_in(client, demo.journey.case.customer, utcnow())
    problems: list[str] = []
    for _, name, _ in site_urls():
        if not name.startswith("portal:") or name == "portal:sign_out":
            continue
        url = _url(name, demo)
        problems += _check(client.get(url), url, name in CUSTOMER_PAGES)
    assert problems == []


def test_every_admin_page_has_the_policy_and_no_inline_code(client, demo):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="demo"))
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        meta = model._meta
        urls.append(reverse("admin:app_list", kwargs={"app_label": meta.app_label}))
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
        row = model._default_manager.order_by("pk").first()
        if row is not None:
            for view in ("change", "history", "delete"):
                urls.append(
                    reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[row.pk])
                )
    problems: list[str] = []
    for url in dict.fromkeys(urls):
        response = client.get(url)
        problems += _check(response, url, must_be_page=False)
    assert problems == []


def test_the_api_and_its_docs_carry_a_policy(client, db):
    for url in ("/api/docs", "/api/openapi.json", "/api/v1/cases", "/api/nowhere", "/healthz"):
        assert client.get(url).get("Content-Security-Policy"), url
