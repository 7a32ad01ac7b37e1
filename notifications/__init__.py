"""Email: rendering the outbox and delivering it.

- ``render``: an outbox row to subject, text and HTML (Jinja, per-locale templates).
- ``compose``: a rendered email to the bytes sent over SMTP (headers, MIME).
- ``outbox``: claiming rows with a lease, recording outcomes, dead letters.
- ``sender``: one aiosmtplib connection and what each SMTP failure means.
- ``dispatcher``: ``send_due(svc)`` (`kpi mail send`), ``retry_dead``, and
  ``start_dispatcher(svc) -> handle`` (`kpi serve`; ``handle.stop()``, ``handle.wake()``).
- ``catcher``: the demo's SMTP server on loopback; ``list_caught``, ``read_caught``.
- ``testing``: a recording SMTP server for tests, able to misbehave on cue.

Which notices a supervisor gets in a daily digest is decided where the outbox rows
are written (``workflow.service.notices``); the dispatcher folds them when due.
"""
