"""The dosage matrix: shape checks, subsets, and float conversion with missing calls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clarity.genotype import MISSING, DosageMatrix


def _variants(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "chrom": ["chr1"] * n,
            "pos": list(range(1, n + 1)),
            "id": [f"v{i}" for i in range(n)],
            "ref": ["A"] * n,
            "alt": ["C"] * n,
        }
    )


def test_to_float__imputes_the_column_mean_and_zero_for_a_column_never_called():
    dosages = np.array([[0, MISSING, 1], [2, MISSING, 1], [MISSING, MISSING, 0]], dtype=np.int8)
    matrix = DosageMatrix(dosages, ("a", "b", "c"), _variants(3))
    values = matrix.to_float()
    assert values.dtype == np.float32
    np.testing.assert_allclose(values[:, 0], [0, 2, 1])
    np.testing.assert_allclose(values[:, 1], [0, 0, 0])
    np.testing.assert_allclose(matrix.to_float([2])[:, 0], [1, 1, 0])


def test_subset__keeps_rows_columns_and_their_labels():
    dosages = np.arange(12, dtype=np.int8).reshape(3, 4) % 3
    matrix = DosageMatrix(dosages, ("a", "b", "c"), _variants(4))
    part = matrix.subset(samples=[2, 0], variants=[3, 1])
    assert part.samples == ("c", "a") and list(part.variants["id"]) == ["v3", "v1"]
    np.testing.assert_array_equal(part.dosages, dosages[np.ix_([2, 0], [3, 1])])


@pytest.mark.parametrize(
    ("dosages", "samples", "message"),
    [
        (np.zeros((2, 3), dtype=np.float32), ("a", "b"), "int8"),
        (np.zeros((2, 3), dtype=np.int8), ("a",), "sample ids"),
        (np.zeros((2, 2), dtype=np.int8), ("a", "b"), "one row per column"),
    ],
)
def test_dosage_matrix__refuses_inconsistent_parts(dosages, samples, message):
    with pytest.raises(ValueError, match=message):
        DosageMatrix(dosages, samples, _variants(3))
