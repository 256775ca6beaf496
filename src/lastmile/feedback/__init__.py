"""Feedback that closes the loop: CSAT, NPS and CES surveys sent under the one contact
budget, and every detractor an owned recovery loop."""
