"""Deliveries and field visits: windows the customer chooses, the day of the job, proof of
delivery, then the invoice and the follow-up."""
