"""Invoices: numbered per year, lines and taxes in integer minor units, a PDF, payments
recorded once. Issued by the modules that finish paid work (``jobs``)."""
