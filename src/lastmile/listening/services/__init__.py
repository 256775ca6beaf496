"""Every write to listening, one module per part of it.

- ``terms``: watch terms, the queries mentions are matched against, and brand handles.
- ``mentions``: importing a batch of mentions — terms, authors and their influence,
  customers, threads, and the conversations addressed to a brand on the timeline — in
  steps over one ``Batch`` (``batch``): ``matching`` (terms, brand, sentiment, authors,
  customers), ``threads`` (conversations, cases, timeline entries) and ``writes``.
- ``replies``: the case a reply to a mention goes on, dismissing a mention, and keeping
  mentions in step with their reply loops.
- ``files``: a file import's progress, batch by batch.
"""
