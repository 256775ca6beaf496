"""Checks over every template file the project ships."""

from __future__ import annotations

from pathlib import Path

import lastmile

TEMPLATES = sorted(Path(lastmile.__file__).parent.glob("*/templates/**/*.html"))


def test_there_are_templates_to_check():
    assert len(TEMPLATES) > 20


def test_no_template_opens_a_comment_it_does_not_close_on_the_same_line():
    # Django's {# … #} is one line only: a comment over several lines is printed as text
    # (it was, at the top of every console page). Longer ones use {% comment %}.
    unclosed = [
        f"{path.relative_to(path.parents[2])}:{n}"
        for path in TEMPLATES
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if line.count("{#") > line.count("#}")
    ]
    assert unclosed == []
