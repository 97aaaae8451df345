"""Strategy review: look back at what a scoring run said and what happened since.

* :mod:`~custrisk.review.backtest` -- bad rates, losses and PD calibration by grade;
* :mod:`~custrisk.review.alerts` -- each alert rule's precision, recall, lead time,
  overlap and a suggested threshold;
* :mod:`~custrisk.review.whatif` -- another policy on the same customers, cut-offs
  proposed from target bad rates;
* :mod:`~custrisk.review.followups` -- the follow-up plan (回访计划) of a run;
* :mod:`~custrisk.review.output` -- the review as CSV, a workbook and a PDF;
* :mod:`~custrisk.review.run` -- :func:`backtest_run`, the one call of ``custrisk backtest``.
"""
