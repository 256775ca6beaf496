"""`lastmile rollups rebuild` and `lastmile qa autoreview`, run in-process."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from lastmile.cli import main
from lastmile.scorecards.models import TeamWeekRollup

pytestmark = pytest.mark.django_db


def test_rollups_rebuild_writes_a_row_per_team_and_week(team, other_team):
    result = CliRunner().invoke(main, ["rollups", "rebuild", "--weeks", "3"])

    assert result.exit_code == 0, result.output
    assert "6 rollup rows written" in result.output
    assert TeamWeekRollup.objects.count() == 6


def test_rollups_rebuild_refuses_zero_weeks_and_writes_nothing(team):
    result = CliRunner().invoke(main, ["rollups", "rebuild", "--weeks", "0"])

    assert result.exit_code == 2 and "--weeks" in result.output
    assert not TeamWeekRollup.objects.exists()


def test_qa_autoreview_says_how_many_conversations_it_reviewed(team):
    result = CliRunner().invoke(main, ["qa", "autoreview"])

    assert result.exit_code == 0, result.output
    assert "0 conversations reviewed" in result.output
