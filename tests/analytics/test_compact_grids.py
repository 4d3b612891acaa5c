"""The gap engine keeps whole-count grids as float32 and reads them back as the float64 values
they were: nothing a report shows can change."""

from __future__ import annotations

import numpy as np

from analytics.gap_window import _Grids


def test_whole_counts_are_kept_narrow_and_read_back_exactly() -> None:
    counts = np.array([[0.0, 3.0, 16_000_000.0], [7.0, 0.0, 1.0]])
    money = np.array([[0.0, 1234.56, 0.1], [1e12 + 1, 0.0, 2.0]])  # not exact in float32
    grids = _Grids([counts, money], counts.shape)
    assert grids._grids[0].dtype == np.float32
    assert grids._grids[1].dtype == np.float64
    for m, original in enumerate((counts, money)):
        read = grids[m][:, 1:3]
        assert read.dtype == np.float64 and np.array_equal(read, original[:, 1:3])
        assert grids[m, 1, 0] == original[1, 0] and isinstance(grids[m, 1, 0], np.float64)
    window = grids[..., slice(1, 3)]
    assert window.dtype == np.float64
    assert np.array_equal(window, np.stack([counts, money])[..., 1:3])
    assert np.array_equal(
        window.sum(axis=-1, dtype=float), np.stack([counts, money])[..., 1:3].sum(axis=-1)
    )


def test_no_metrics_gives_empty_windows() -> None:
    assert _Grids([], (4, 6))[..., slice(0, 3)].shape == (0, 4, 3)
