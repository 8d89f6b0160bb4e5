"""Genotype principal components: the population-structure covariates of every trait model.

:func:`principal_components` computes them on a reference cohort by
randomized SVD, and the :class:`PcaModel` it returns scores a new patient in
the reference cohort's components (and is saved beside the trait models).

References
----------
.. [1] Patterson N, Price AL, Reich D. "Population structure and
   eigenanalysis." PLoS Genet 2006;2(12):e190 (the standardisation).
.. [2] Halko N, Martinsson PG, Tropp JA. "Finding structure with randomness:
   probabilistic algorithms for constructing approximate matrix
   decompositions." SIAM Rev 2011;53(2):217-288.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clarity.errors import InputError
from clarity.genotype._dosage import MISSING, DosageMatrix
from clarity.genotype._features import called_means, variant_columns

__all__ = ["PcaModel", "principal_components"]

_CHUNK = 2_000  # variant columns converted to floats at a time
_OVERSAMPLE = 10  # extra random directions of the randomized SVD [2]
_POWER_ITERATIONS = 4  # enough for a clear spectral gap; genotype spectra decay slowly


# --- principal components -----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PcaModel:
    """Genotype principal components of a reference cohort, to score new samples in.

    Dosages are standardised as Patterson et al. [1]_ do,
    ``(x - 2p) / sqrt(2p(1 - p))`` with ``p`` the reference cohort's alt
    allele frequency; a monomorphic variant gets weight 0, and a missing call
    is set to the reference mean (a standardised 0).

    Parameters
    ----------
    variants
        Variant ids the components are defined on.
    means
        Reference mean dosage (``2p``) of each variant.
    scales
        ``sqrt(2p(1 - p))`` of each variant (0 for a monomorphic one).
    loadings
        Array ``(n_components, n_variants)``: the right singular vectors of
        the standardised reference matrix, each signed so that its largest
        absolute entry is positive.
    singular_values
        The singular values of the standardised reference matrix, largest first.
    """

    variants: tuple[str, ...]
    means: np.ndarray
    scales: np.ndarray
    loadings: np.ndarray
    singular_values: np.ndarray

    @property
    def n_components(self) -> int:
        """Number of components."""
        return int(self.loadings.shape[0])

    @property
    def version(self) -> str:
        """SHA-256 of the variants and every array: equal exactly when the projections are."""
        digest = hashlib.sha256("\n".join(self.variants).encode("utf-8"))
        for array in (self.means, self.scales, self.loadings, self.singular_values):
            digest.update(np.ascontiguousarray(array, dtype="<f8").tobytes())
        return digest.hexdigest()

    def save(self, path: Path | str) -> None:
        """Write the projection to a ``.npz`` file of plain arrays (no pickled objects).

        Parameters
        ----------
        path
            Target file, conventionally ``*.npz``.
        """
        with Path(path).open("wb") as handle:
            np.savez(
                handle,
                variants=np.array(self.variants, dtype=str),
                means=self.means,
                scales=self.scales,
                loadings=self.loadings,
                singular_values=self.singular_values,
                version=np.array(self.version),
            )

    @classmethod
    def load(cls, path: Path | str) -> PcaModel:
        """Read a projection written by :meth:`save`, refusing a changed file.

        Parameters
        ----------
        path
            A file written by :meth:`save`.

        Returns
        -------
        PcaModel
            The projection, scoring exactly as the saved one did.

        Raises
        ------
        InputError
            If the file is not such a file, or its arrays no longer hash to
            the version it records.
        """
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                model = cls(
                    variants=tuple(str(v) for v in data["variants"]),
                    means=np.asarray(data["means"], np.float64),
                    scales=np.asarray(data["scales"], np.float64),
                    loadings=np.asarray(data["loadings"], np.float64),
                    singular_values=np.asarray(data["singular_values"], np.float64),
                )
                recorded = str(data["version"])
        except (OSError, KeyError, ValueError) as error:
            raise InputError(f"{path} is not a saved PcaModel: {error}") from error
        if model.version != recorded:
            raise InputError(f"Refusing {path}: its arrays changed after it was saved.")
        return model

    def transform(self, matrix: DosageMatrix) -> np.ndarray:
        """Project samples onto the reference components.

        Parameters
        ----------
        matrix
            Dosages of the samples; it must hold every variant of the model
            (by id, in any order; other variants are ignored).

        Returns
        -------
        numpy.ndarray
            Array ``(n_samples, n_components)`` of PC scores. For the
            reference samples these are the components
            :func:`principal_components` returned.

        Raises
        ------
        InputError
            If the matrix lacks a variant of the model.
        """
        columns = variant_columns(matrix, self.variants)
        return _product(matrix, columns, self.means, self.scales, self.loadings.T)


def _standardised_block(
    matrix: DosageMatrix, columns: np.ndarray, means: np.ndarray, scales: np.ndarray
) -> np.ndarray:
    block = np.asarray(matrix.dosages[:, columns])
    z: np.ndarray = (block.astype(np.float64) - means) / np.where(scales > 0, scales, 1.0)
    z[:, scales <= 0] = 0.0
    z[block == MISSING] = 0.0
    return z


def _product(
    matrix: DosageMatrix,
    columns: np.ndarray,
    means: np.ndarray,
    scales: np.ndarray,
    right: np.ndarray,
) -> np.ndarray:
    """Return ``Z @ right`` for the standardised columns ``Z``, a chunk of columns at a time."""
    out = np.zeros((matrix.n_samples, right.shape[1]))
    for start in range(0, len(columns), _CHUNK):
        part = slice(start, start + _CHUNK)
        out += _standardised_block(matrix, columns[part], means[part], scales[part]) @ right[part]
    return out


def _transposed_product(
    matrix: DosageMatrix,
    columns: np.ndarray,
    means: np.ndarray,
    scales: np.ndarray,
    left: np.ndarray,
) -> np.ndarray:
    """Return ``Z.T @ left`` for the standardised columns ``Z``, a chunk of columns at a time."""
    out = np.zeros((len(columns), left.shape[1]))
    for start in range(0, len(columns), _CHUNK):
        part = slice(start, start + _CHUNK)
        out[part] = _standardised_block(matrix, columns[part], means[part], scales[part]).T @ left
    return out


def principal_components(
    matrix: DosageMatrix,
    n: int = 10,
    *,
    variants: Sequence[str] | None = None,
    random_state: int = 0,
) -> tuple[np.ndarray, PcaModel]:
    """Compute genotype principal components by randomized SVD of standardised dosages.

    The dosages are standardised as in EIGENSTRAT [1]_ and never held as
    floats whole: every product with the matrix converts a chunk of columns
    at a time. The singular vectors come from the randomized range finder of
    Halko et al. [2]_ (``n + 10`` random directions, four power iterations
    with re-orthonormalisation). The returned components are the projection
    of the samples onto the loadings (``Z V``), computed by
    :meth:`PcaModel.transform`, so a patient projected later is scored by
    exactly the map the cohort was.

    Parameters
    ----------
    matrix
        Dosages of the reference cohort (after QC; LD pruning first is usual).
    n
        Number of components.
    variants
        Ids of the variants to use (e.g. an LD-pruned set); None for all.
    random_state
        Seed of the random directions.

    Returns
    -------
    components : numpy.ndarray
        Array ``(n_samples, n)`` of PC scores of the cohort.
    model : PcaModel
        The fitted projection, to score new samples with.

    Raises
    ------
    ValueError
        If ``n`` is not a positive int.
    InputError
        If ``n`` exceeds the samples or usable variants, or an id is unknown.

    Examples
    --------
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> dosages = rng.binomial(2, 0.3, size=(50, 40)).astype(np.int8)
    >>> ids = [f"v{i}" for i in range(40)]
    >>> variants = pd.DataFrame(
    ...     {"chrom": "chr1", "pos": range(1, 41), "id": ids, "ref": "A", "alt": "G"}
    ... )
    >>> matrix = DosageMatrix(dosages, tuple(f"s{i}" for i in range(50)), variants)
    >>> pcs, model = principal_components(matrix, 3)
    >>> pcs.shape, model.loadings.shape
    ((50, 3), (3, 40))
    >>> bool(np.allclose(model.transform(matrix), pcs))
    True
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(
            f"The 'n' parameter of principal_components must be an int in the range [1, inf). "
            f"Got {n!r} instead."
        )
    if variants is None:
        columns = np.arange(matrix.n_variants)
        ids = tuple(matrix.variants["id"].astype(str))
    else:
        ids = tuple(str(v) for v in variants)
        columns = variant_columns(matrix, ids)
    means = called_means(matrix, columns)
    p = means / 2
    scales = np.sqrt(2 * p * (1 - p))
    usable = int(np.sum(scales > 0))
    if n > min(matrix.n_samples, usable):
        raise InputError(
            f"Cannot compute {n} components from {matrix.n_samples} samples and {usable} "
            "polymorphic variants."
        )
    k = min(n + _OVERSAMPLE, matrix.n_samples, usable)
    rng = np.random.default_rng(random_state)
    basis = np.linalg.qr(
        _product(matrix, columns, means, scales, rng.standard_normal((len(columns), k)))
    )[0]
    for _ in range(_POWER_ITERATIONS):
        back = np.linalg.qr(_transposed_product(matrix, columns, means, scales, basis))[0]
        basis = np.linalg.qr(_product(matrix, columns, means, scales, back))[0]
    small = _transposed_product(matrix, columns, means, scales, basis).T  # Q' Z, k x m
    _, singular, right = np.linalg.svd(small, full_matrices=False)
    loadings = right[:n]
    # A deterministic sign, as scikit-learn's svd_flip: the largest |loading| is positive.
    signs = np.sign(loadings[np.arange(n), np.argmax(np.abs(loadings), axis=1)])
    loadings = loadings * np.where(signs == 0, 1.0, signs)[:, None]
    model = PcaModel(ids, means, scales, loadings, singular[:n])
    return model.transform(matrix), model
