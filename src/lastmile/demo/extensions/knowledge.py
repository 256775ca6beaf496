"""The knowledge app's part of the seeded demo (called by lastmile.demo.seed after the core stories).

About a dozen articles across the demo's brands (Lastmile Bank, Hotels, Rewards, Home and
social care), some public for the portal, written so the story cases find them: the bank
customer who cannot log in gets the online-banking articles suggested, the guest the
membership benefits, the Wi-Fi fault the diagnostics visit.
"""

from __future__ import annotations

from typing import Any

from lastmile.knowledge.services import article_put

# slug, title, team, public, tags, policy keys, body (Markdown)
ARTICLES: tuple[tuple[str, str, str, bool, tuple[str, ...], tuple[str, ...], str], ...] = (
    (
        "online-banking-first-login",
        "Online banking: when can I log in to my new account?",
        "back",
        True,
        ("online-banking", "new-account", "login"),
        ("online-access-within-1-working-day",),
        """Online banking is switched on **within one working day** of your account being
opened. We then send an **activation code by text message** to the mobile number on your
application.

Until then, signing in says *"we can't find an account with these details"*: that is
expected, nothing is wrong with your details.

- No code after one working day? Contact us and we will check the request with the back
  office — you don't need to apply again.
- Changed your mobile number? Tell us before you try to activate.
""",
    ),
    (
        "enable-online-banking-procedure",
        "Back office: enabling online banking for a new account",
        "back",
        False,
        ("online-banking", "procedure", "account-opening"),
        ("online-access-within-1-working-day",),
        """**Owner:** back office. **Deadline:** one working day from account opening (the
customer has been told so).

1. In the core system, register the account for digital channels.
2. Check the mobile number against the application; a mismatch goes back to the customer.
3. Send the activation code (SMS template `OB-ACTIVATE`).
4. Complete the journey step with a note: date sent and the last 3 digits of the mobile.

If the customer has already chased, reply on the case the same day, even before it is done.
""",
    ),
    (
        "card-declined-what-to-check",
        "Card declined: what to check",
        "cards",
        True,
        ("cards", "declined", "payments"),
        (),
        """A card can be declined for a few reasons:

| Reason | What to do |
|---|---|
| New card not yet **linked** to your account | It works once linked; we do this within one working day |
| Card not activated | Make a chip-and-PIN payment or a cash withdrawal |
| Daily limit reached | Check *Card controls* in the app |
| Card frozen | Unfreeze it in *Cards → Card controls* |
| Suspected fraud | We will text you; reply to confirm the payment |

Still declined? Call us or chat in the app — have the last 4 digits of the card ready.
""",
    ),
    (
        "link-debit-card-procedure",
        "Cards team: linking a debit card to a new account",
        "cards",
        False,
        ("cards", "procedure", "account-opening"),
        ("card-link-within-1-working-day",),
        """Link the card (last 4 digits in the hand-off note) to the account in the card
platform, then set the card's status to *active pending first PIN use*. A card that is not
linked declines every payment, even with money in the account.

Complete the journey step with the card's last 4 digits and the time it was linked.
""",
    ),
    (
        "using-your-card-abroad",
        "Using your card abroad",
        "cards",
        True,
        ("cards", "travel", "fees"),
        ("foreign-usage-fee",),
        """Everyday Current Account cards have **no foreign transaction fee**; Premier
accounts pay a foreign usage fee per transaction (see your tariff). ATM operators abroad may
charge their own fee.

Before you travel, check your daily limits in the app. If a payment abroad is declined,
we may text you to confirm it's you — reply *YES* and try again.
""",
    ),
    (
        "documents-for-a-current-account",
        "Opening a current account: documents we accept",
        "back",
        True,
        ("account-opening", "kyc", "documents"),
        (),
        """To open an account we need:

- **Photo ID:** a valid passport or UK photocard driving licence.
- **Proof of address** dated in the last 3 months: a utility bill, council tax bill or bank
  statement.

Upload them through the secure link in our email; checks usually take less than a working
day.
""",
    ),
    (
        "public-complaint-on-social",
        "Answering a public complaint on social media",
        "social",
        False,
        ("social", "complaints", "procedure"),
        ("social-first-reply-1h",),
        """1. Reply publicly **within an hour**: acknowledge, apologise for the experience, and
   offer to help in a direct message. Never post account details.
2. Move to DM, find the customer and their open cases — read the timeline first so they are
   not asked to repeat themselves.
3. Fix or hand off to the owning team with a note; tell the customer who owns it and when
   they will hear back.
4. Close the loop publicly if the customer posts again.
""",
    ),
    (
        "gold-member-benefits",
        "Lastmile Rewards Gold: upgrades and late checkout",
        "membership",
        True,
        ("hotel", "membership", "gold", "upgrade"),
        ("gold-late-checkout-14", "gold-upgrade-on-availability"),
        """As a **Gold** member you get:

- A room **upgrade** when one is available at check-in (confirmed upgrades are guaranteed).
- **Late checkout until 14:00** on request.
- Welcome drink and 25 % more Rewards points per stay.

Tell us about a special occasion when you book and we'll do our best to make it memorable.
""",
    ),
    (
        "arrival-promises-reception",
        "Reception: honouring what another team promised before arrival",
        "reception",
        False,
        ("hotel", "arrival", "promises", "procedure"),
        ("gold-upgrade-on-availability",),
        """Before a guest arrives, open their timeline: membership or the contact centre may
have promised an upgrade, late checkout or a special request. An open **promise** loop for
reception means it is owed — deliver it before check-in and close the loop, or tell the
guest straight away if it cannot be done and offer the alternative.
""",
    ),
    (
        "wifi-drops-evening",
        "Wi-Fi drops in the evening: what to try first",
        "field",
        True,
        ("home", "wifi", "broadband", "diagnostics"),
        (),
        """Evening drops are often interference or an overloaded channel:

1. Restart the router and wait 5 minutes.
2. Put the router high up and away from the TV, microwave and cordless phones.
3. Run the **online line test** from your account page.

If a device on a cable is fine but Wi-Fi keeps dropping, book a **home diagnostics visit**:
an engineer checks the line, the router and the Wi-Fi coverage.
""",
    ),
    (
        "home-diagnostics-visit",
        "Home diagnostics visit: what to expect",
        "field",
        True,
        ("home", "visit", "engineer", "diagnostics"),
        ("visit-window-2h",),
        """You choose a **two-hour window**; the engineer texts when on the way. Someone aged
18 or over needs to be at home. The visit takes about an hour: line test, router check and
Wi-Fi survey. Most faults are fixed on the spot; if a part is needed we order it and tell you
when it will be fitted.
""",
    ),
    (
        "handoff-notes",
        "Writing a hand-off note the next team can act on",
        "front",
        False,
        ("journeys", "handoff", "procedure"),
        (),
        """When you finish a journey step, the note goes to the team that starts next. Write
what they need and nothing else:

- **What was done**, with references (account number ending, card last 4, booking).
- **What was promised to the customer**, and by when.
- **Anything unusual** (a name mismatch, a customer who prefers email).
""",
    ),
)


def seed(seeder: Any) -> list[str]:
    """The demo's articles (written again as they are: running twice changes nothing)."""
    public = 0
    for slug, title, team, is_public, tags, policies, body in ARTICLES:
        article_put(
            slug=slug,
            title=title,
            body_md=body,
            tags=list(tags),
            team=seeder.teams.get(team),
            policy_keys=list(policies),
            public=is_public,
            now=seeder.now,
        )
        public += is_public
    return [f"knowledge: {len(ARTICLES)} articles ({public} public), under /kb/"]
