"""The worked examples in the core modules' docstrings are tests."""

from __future__ import annotations

import doctest

import pytest

from lastmile.core import jsonbody, localtime, retry


@pytest.mark.parametrize("module", [localtime, retry, jsonbody], ids=lambda m: m.__name__)
def test_the_docstring_examples_hold(module):
    result = doctest.testmod(module)
    assert result.failed == 0


def test_retry_schedule_is_capped_even_for_a_huge_attempt_count():
    assert retry.retry_delay(10**6) == retry.RETRY_CAP
