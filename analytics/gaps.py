"""The gap engine: for a rep and a month, the 1–2 metrics where they credibly trail their peers.

Inputs (the storage layer produces these):

* `metrics` — wide DataFrame, one row per (rep, month): `rep` (email), `month` ("YYYY-MM"), then
  any catalogue count columns as floats (NaN = not reported). Columns the catalogue does not know
  are ignored; a metric whose columns are absent is not computed (`zero_if_missing` columns such as
  `inherited_wins` count as 0 when absent). An optional `through` column (a date inside the row's
  month, or None) marks a month-to-date row: that month counts as the fraction of the month it
  covers (its exposure) wherever months are counted, and is never the default month.
* `people` — DataFrame of the org chart: `email`, `name`, `role` (rep/manager/director/admin),
  `segment` (str or None/NaN), `start_date` (date or None/NaT), `active` (bool; default True).
  Only `role == "rep"` people are reported on and compared; only active reps are peers.

The computation follows issue 3's public contract; `analytics/README.md` explains it in plain
words. Work is cached: pooled windows per month, peer fits per (peer pool, month), and every rep's
results per month once `reports()` has run, so a warm engine serves one rep in milliseconds.

The engine is built in stages, one module each, each class extending the one before:

1. `gap_window.GapWindow` — the data loaded once, the month axis (`latest_month`, `through`),
   each month's pooled window, peer groups, tenure and the peer pools' fits;
2. `gap_estimates.GapEstimates` — peer figures and posteriors against the group, a tenure
   cohort or level-adjusted rates, and what each rep may be flagged on;
3. `gap_advice.GapAdvice` — flags, consequences, impact, focus, last month's focus, stretch and
   out-of-reach targets;
4. `gap_report.GapAssembly` — the report: JSON-ready table, peer-group basis, warnings, trend.

`GapEngine` adds the constructor and the public API (`report`, `reports`, `warm`).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import numpy as np
import pandas as pd

from analytics.catalogue import Catalogue
from analytics.gap_advice import MATERIAL_PROBABILITY, OWN_DRIVER_CONFIDENCE, TOP_RESULTS
from analytics.gap_report import GapAssembly
from analytics.gap_window import GapError, _Month, format_month, parse_month
from analytics.models import GapConfig, GapReport

__all__ = [
    "MATERIAL_PROBABILITY",
    "OWN_DRIVER_CONFIDENCE",
    "TOP_RESULTS",
    "GapConfig",
    "GapEngine",
    "GapError",
    "collector_paused",
    "format_month",
    "parse_month",
]


class GapEngine(GapAssembly):
    """Peer-relative, noise-aware gaps for every rep and month of the data it was built on."""

    def __init__(
        self,
        metrics: pd.DataFrame,
        people: pd.DataFrame,
        catalogue: Catalogue,
        config: GapConfig | None = None,
    ) -> None:
        """Index the data once; see the module docstring for the DataFrame formats."""
        self.catalogue = catalogue
        self.config = config or GapConfig()
        self._load_people(people)
        self._load_metrics(metrics)
        self._months: dict[int, _Month] = {}

    # ---------------------------------------------------------------- public API

    def report(self, email: str, month: str | None = None, today: date | None = None) -> GapReport:
        """One rep's gaps for `month` (default: the latest full month with data).

        `today` decides who is ramping (default: the last day of the month). GapError for an
        unknown email or a non-rep, a malformed month, a month without data, or a rep without data
        in the window.
        """
        key = str(email).strip().lower()
        position = int(self._index.get_indexer([key])[0])
        if position < 0:
            raise GapError(f"{email}: not a rep in the org chart")
        state = self._month(month)
        if not state.has_data[position]:
            first, last = format_month(state.window[0]), format_month(state.window[-1])
            raise GapError(f"{key}: no metrics in {first} to {last}")
        results = state.results or self._evaluate(state, np.array([position]))
        previous = self._previous_focus(state, np.array([position]))
        return self._assemble(state, results, position, previous.get(position, []), today)

    def warm(self, month: str | None = None) -> None:
        """Evaluate every rep for `month` (default: the latest full month) once, with the month
        before's focus, so that each later `report` of it is a look-up and an assembly."""
        state = self._month(month)
        with collector_paused():
            self._table(state, self._all(state))
            self._previous_focus(state, np.flatnonzero(state.has_data))

    def reports(self, month: str | None = None, today: date | None = None) -> list[GapReport]:
        """Every active rep with data in the window, sorted by email (vectorised over reps)."""
        state = self._month(month)
        reps = np.flatnonzero(self._active & state.has_data)
        with collector_paused():
            results = self._all(state)
            previous = self._previous_focus(state, reps)
            return [
                self._assemble(state, results, int(i), previous.get(int(i), []), today)
                for i in reps
            ]


_pause_lock = threading.Lock()
_pausers = 0
_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while thousands of reports (or the messages quoting
    them) are built.

    The reports hold no reference cycles, so the collector finds nothing, yet its repeated full
    passes over the growing heap of new objects cost more than building them (measured: 1.8 s
    instead of 0.6 s for 5,000 reports). Reference counting still frees memory meanwhile.
    """
    global _pausers, _was_enabled
    # Counted under a lock: overlapping callers in a threaded server must not leave it disabled.
    with _pause_lock:
        if _pausers == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausers += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pausers -= 1
            if _pausers == 0 and _was_enabled:
                gc.enable()
