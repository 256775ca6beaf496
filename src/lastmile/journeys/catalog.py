"""The journey templates lastmile ships with, in the YAML the API accepts.

They name the demo's teams (front, back, cards, membership, reception, field); loading them
where a team is missing fails with the step and team named. ``lastmile journeys seed``
loads them; sending one again changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lastmile.journeys.definitions import from_yaml
from lastmile.people.viewers import Actor

OPEN_CURRENT_ACCOUNT = """\
name: Open a current account
slug: open-current-account
description: >-
  From the application to a customer who can log in, pay by card and has been welcomed.
  The back-office steps are shown to the customer in the portal, so they can see where
  their account is without asking.
steps:
  - key: upload_documents
    title: Upload a photo ID and a proof of address
    team: back
    customer_action: upload
    sla_minutes: 2550
    instructions: >-
      A passport or driving licence, and a bill or statement from the last 3 months
      showing your address.
  - key: kyc
    title: "KYC: verify identity and address"
    team: back
    sla_minutes: 480
    depends_on: [upload_documents]
    customer_visible: true
    instructions: Check the ID against the application; the address proof must be under 3 months old.
  - key: create_account
    title: Create the account
    team: back
    sla_minutes: 240
    depends_on: [kyc]
    customer_visible: true
    instructions: Open the account in the core system; put the sort code and account number in the note.
  - key: enable_online_access
    title: Enable online banking access for the account
    team: back
    sla_minutes: 480
    depends_on: [create_account]
    customer_visible: true
    instructions: Register the account for online banking and send the activation code by SMS.
  - key: link_debit_card
    title: Link the debit card to the account
    team: cards
    sla_minutes: 720
    depends_on: [create_account]
    customer_visible: true
    instructions: Link the card (last 4 digits in the hand-off note) to the new account and activate it.
  - key: first_payment_check
    title: Check the first payment in and the first card payment out
    team: back
    sla_minutes: 960
    depends_on: [link_debit_card]
    instructions: Confirm the first incoming payment cleared and a card payment was authorised.
  - key: welcome_call
    title: Welcome call
    team: front
    sla_minutes: 960
    depends_on: [enable_online_access, first_payment_check]
    customer_visible: true
    instructions: Call the customer; check they can log in and pay, and answer their questions.
"""

HOTEL_SPECIAL_REQUEST = """\
name: Hotel stay with special request
slug: hotel-special-request
description: >-
  A guest's special request (upgrade, late checkout, accessibility, an occasion) promised
  before the stay and delivered on it: membership records it, the guest confirms it,
  reception prepares it and checks it on arrival.
steps:
  - key: record_request
    title: Record the request on the booking
    team: membership
    sla_minutes: 240
    customer_visible: true
  - key: confirm_request
    title: Confirm the details of your request
    team: membership
    customer_action: confirm
    sla_minutes: 2400
    depends_on: [record_request]
    instructions: Check the request as we recorded it and confirm it is right.
  - key: prepare_room
    title: Prepare the room and the request before arrival
    team: reception
    sla_minutes: 1440
    depends_on: [confirm_request]
    customer_visible: true
  - key: arrival_check
    title: "At check-in: check the request was delivered"
    team: reception
    depends_on: [prepare_room]
  - key: after_stay
    title: "After the stay: ask how it went"
    team: membership
    depends_on: [arrival_check]
"""

HOME_DIAGNOSTICS_VISIT = """\
name: Home diagnostics visit
slug: home-diagnostics-visit
description: >-
  A fault that needs an engineer at home: a remote test first, the customer picks the
  visit slot, the engineer diagnoses and fixes (or orders the part), and we check a week
  later that the fault is gone.
steps:
  - key: remote_test
    title: Run a remote line test
    team: field
    sla_minutes: 240
    customer_visible: true
  - key: choose_slot
    title: Choose a visit slot
    team: field
    customer_action: choose_slot
    sla_minutes: 1440
    depends_on: [remote_test]
    instructions: >-
      Pick one of the two-hour windows we offer, when someone aged 18 or over will be at
      home. The engineer comes during that window.
  - key: visit
    title: Engineer visit and diagnosis
    team: field
    depends_on: [choose_slot]
    due_by_slot: choose_slot
    customer_visible: true
  - key: fix
    title: Fix on site or order the part
    team: field
    depends_on: [visit]
    customer_visible: true
  - key: follow_up
    title: "A week later: check the fault is gone"
    team: field
    depends_on: [fix]
"""

CATALOG = (OPEN_CURRENT_ACCOUNT, HOTEL_SPECIAL_REQUEST, HOME_DIAGNOSTICS_VISIT)


def catalog_definitions() -> list[Any]:
    return [from_yaml(text) for text in CATALOG]


def catalog_load(*, now: datetime, actor: Actor = None) -> list[tuple[Any, str]]:
    """Create or update the shipped templates; [(template, created|updated|unchanged)]."""
    from lastmile.journeys.services import template_save

    return [template_save(definition=d, actor=actor, now=now) for d in catalog_definitions()]
