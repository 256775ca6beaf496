"""The bank story: Aisha Khan's new current account, with online access never enabled and
her debit card never linked; she phoned, and has now written asking why.
"""

from __future__ import annotations

from datetime import timedelta

from lastmile.demo.builder import Builder
from lastmile.demo.plan import business_back, day_label


def plan(b: Builder) -> None:
    """Current account opened; online access never enabled, debit card never linked."""
    now = b.now
    who = b.person(
        "story-bank",
        "Aisha",
        "Khan",
        country="GB",
        email="aisha.khan@outlook.com",
        phone="+447911123456",
        since_days=14,
        city="Leeds",
        attributes={"product": "Everyday Current Account"},
    )
    case = b.new_case_key()
    # The two hand-off tasks were opened this much business time ago: past 150 % of the
    # back office's 480 minutes (reassigned to the lead) and past 100 % of the cards
    # team's 720 (breached) whatever the weekday or holiday ``now`` falls on.
    tasks_at = business_back(now, 1000, "office")
    # Built backwards from there: KYC finished just before, inside its own SLA (380 of 480
    # business minutes); the documents came in just before KYC started.
    done = tasks_at - timedelta(minutes=12)
    b.plan.dates["account_opened"] = done
    kyc_at = business_back(done, 380, "office")
    uploaded = kyc_at - timedelta(minutes=4)
    t1 = uploaded - timedelta(hours=2, minutes=13)
    applied = business_back(t1, 50, "office")
    s = b.step
    s(
        applied,
        "case",
        who,
        case=case,
        title="Current account opening — online banking and debit card",
        team="back",
        actor="back",
        priority="high",
        channel="web",
    )
    s(
        applied,
        "message",
        who,
        case=case,
        channel="web",
        direction="inbound",
        body="Online application: Everyday Current Account.\nEmployment: salaried (NHS, Leeds Teaching Hospitals).\n"
        "Salary paid in: yes, from next month.\nDebit card: Visa Debit requested.\nOnline banking: yes, please.",
        data={"form": "current_account_application", "product": "Everyday Current Account"},
    )
    s(
        t1,
        "message",
        who,
        case=case,
        channel="email",
        direction="outbound",
        actor="back",
        body="Hi Aisha,\n\nThanks for applying for an Everyday Current Account. To finish opening it, please "
        "upload a photo ID (passport or driving licence) and a proof of address from the last 3 months "
        "using the secure link in this email.\n\nOlu\nLastmile Bank — Account opening",
    )
    s(
        uploaded,
        "message",
        who,
        case=case,
        channel="web",
        direction="inbound",
        body="Documents uploaded: passport, council tax bill (Leeds City Council, 2026/27).",
        data={"form": "document_upload", "files": ["passport.jpg", "council-tax-bill.pdf"]},
    )
    kyc = b.new_loop_key()
    s(
        kyc_at,
        "loop",
        who,
        case=case,
        loop=kyc,
        kind="task",
        team="back",
        actor="back",
        opener="back",
        title="KYC: verify identity and address for Aisha Khan",
    )
    s(
        kyc_at + timedelta(minutes=1),
        "message",
        who,
        case=case,
        channel="email",
        direction="outbound",
        actor="back",
        body="Hi Aisha,\n\nWe've got your documents, thank you. Our checks usually take less than a working day; "
        "we'll email you as soon as your account is open.\n\nOlu\nLastmile Bank",
    )
    s(
        done,
        "close",
        who,
        case=case,
        loop=kyc,
        actor="back",
        reason="KYC passed: passport and council tax bill verified",
    )
    s(
        done + timedelta(minutes=4),
        "message",
        who,
        case=case,
        channel="email",
        direction="outbound",
        actor="back",
        body="Hi Aisha,\n\nGood news — your Everyday Current Account is open.\n\nSort code: 40-12-76\n"
        "Account number ending: 4821\n\nYour Visa Debit card will arrive in 3–5 working days, and your "
        "online banking access will be switched on within one working day; we'll text you the "
        "activation code.\n\nWelcome to Lastmile Bank!\nOlu",
    )
    s(
        tasks_at,
        "loop",
        who,
        case=case,
        loop=b.new_loop_key(),
        kind="task",
        team="back",
        actor="back",
        opener="back",
        title="Enable online banking access for account ending 4821 (Aisha Khan)",
    )
    s(
        tasks_at + timedelta(minutes=1),
        "loop",
        who,
        case=case,
        loop=b.new_loop_key(),
        kind="task",
        team="cards",
        actor="cards",
        opener="back",
        title="Link Visa Debit card ending 7730 to account ending 4821 (Aisha Khan)",
    )
    # She phoned the contact centre during its hours, then wrote in 35 minutes ago.
    call = business_back(now - timedelta(minutes=40), 90, "contact")
    s(
        call,
        "message",
        who,
        case=case,
        channel="phone",
        direction="inbound",
        body="Call from Aisha: card arrived but no activation code for online banking yet.",
    )
    s(
        call + timedelta(minutes=7),
        "message",
        who,
        case=case,
        channel="phone",
        direction="outbound",
        actor="front",
        body="Call notes (Sam, front office): told Aisha online access can take up to one working day after opening and the code comes by text. "
        "Card can be used once it's linked to the account.",
    )
    s(
        now - timedelta(minutes=35),
        "message",
        who,
        case=case,
        channel="email",
        direction="inbound",
        body="Hi,\n\nMy account was opened on "
        + day_label(done)
        + " and you said online banking would be switched "
        "on within a working day. I still can't log in — it says 'we can't find an account with these "
        "details' — and the code never came. My card was also declined at Tesco even though "
        "my first salary has gone in.\n\nWhy can't I log in, and why doesn't my card work? I've now been "
        "told two different things.\n\nAisha Khan",
        data={"subject": "Still can't log in — and card declined"},
    )
    b.plan.stories["bank"] = (
        case,
        "back office never enabled online access (task breached, reassigned "
        "to the lead); debit card not linked (cards task breached)",
    )
