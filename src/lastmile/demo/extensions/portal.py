"""The portal app's part of the seeded demo: where to find the customers' side of the stories.

Links are single-use and expire, so the seed makes none; the report says how to get one.
"""

from __future__ import annotations

from typing import Any

STORY_PEOPLE = (
    ("story-bank", "bank account journey, back-office steps visible to her"),
    ("story-hotel", "the promise of extra beds, with who made it"),
    ("story-visit", "a visit slot to choose herself"),
)


def seed(seeder: Any) -> list[str]:
    lines = ["portal: a customer's link from the console (customer page, 'Email portal link'),"]
    lines.append("  or `lastmile portal link CUSTOMER_ID` — e.g.")
    for key, what in STORY_PEOPLE:
        customer = seeder.customers.get(key)
        if customer is not None:
            lines.append(f"  {customer.pk:<9} {customer.display_name:<17} {what}")
    return lines
