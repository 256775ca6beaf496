"""The demo's practice cases are titled by the customer's first message, masked, without a
number of their own: the path numbers its steps (it read "1. 1. …")."""

from __future__ import annotations

from lastmile.demo.extensions.training import _title


def test_a_demo_practice_title_has_no_number_of_its_own(closed_case):
    title = _title(closed_case)
    assert not title[:1].isdigit()
    assert "Margaret" not in title  # masked
    assert len(title) <= 81
