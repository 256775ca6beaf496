"""The demo's review quotes the customer's question whole: a price's decimal point does not
end a sentence."""

from __future__ import annotations

from lastmile.demo.extensions.coaching import _question


def test_a_price_in_the_question_does_not_cut_it():
    text = "Why have I been charged £42.99 overdraft interest? I was only overdrawn for one day."
    assert _question(text) == "Why have I been charged £42.99 overdraft interest?"


def test_the_last_question_counts_and_none_is_empty():
    assert _question("Is it 3.5 or 4? Thanks.") == "Is it 3.5 or 4?"
    assert _question("All good, thanks. See you 10.30 tomorrow.") == ""
    assert _question("Line one\nwhere is it?") == "where is it?"
