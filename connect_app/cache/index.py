"""An in-memory nearest-neighbour index over unit vectors: one matrix-vector product per search.

Rows are L2-normalised when added, so a dot product is the cosine similarity. With numpy the rows
live in one float32 matrix (grown by doubling) and a search is ``matrix @ query`` followed by a
threshold filter and a partial sort of the few rows above it. Without numpy a pure-Python backend
does the same row by row (float32 arrays): correct, but far slower (see ``bench/cache_bench.py``).

The index holds opaque payloads; callers never see row numbers. Removal zeroes a row (a zero row
scores 0 and is also masked out) and the matrix is compacted once a quarter of it is dead.
"""

from __future__ import annotations

import functools
import math
import operator
from array import array
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from ..errors import BadRequestError

T = TypeVar("T")

BACKENDS = ("auto", "numpy", "python")
_INITIAL_CAPACITY = 16


@functools.cache
def numpy_module() -> Any | None:
    """The numpy module when it can be imported, else None (checked once per process)."""
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def unit(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to length 1 (a zero vector stays zero)."""
    norm = math.sqrt(sum(x * x for x in vector))
    return [float(x) / norm for x in vector] if norm else [0.0] * len(vector)


class VectorIndex(Generic[T]):
    """Cosine-similarity search over added vectors, each carrying a payload of type ``T``.

    Not thread-safe on its own: the owner serialises calls (the semantic cache holds a lock).
    """

    def __init__(self, dim: int, *, backend: str = "auto") -> None:
        """An empty index of ``dim``-dimensional vectors; ``backend`` is auto, numpy or python."""
        if dim < 1:
            raise BadRequestError(f"a vector index needs a dimension of at least 1, got {dim}")
        if backend not in BACKENDS:
            raise BadRequestError(f"index backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        np = numpy_module()
        if backend == "numpy" and np is None:
            raise BadRequestError("index backend 'numpy' needs numpy: pip install numpy")
        self.dim = dim
        self._np = np if backend in ("auto", "numpy") else None
        self._payloads: list[T | None] = []
        self._dead = 0
        if self._np is not None:
            self._matrix = self._np.zeros((_INITIAL_CAPACITY, dim), dtype=self._np.float32)
            self._alive = self._np.zeros(_INITIAL_CAPACITY, dtype=bool)
        else:
            self._rows: list[array[float]] = []

    @property
    def backend(self) -> str:
        """``"numpy"`` or ``"python"``."""
        return "numpy" if self._np is not None else "python"

    def __len__(self) -> int:
        return len(self._payloads) - self._dead

    def add(self, vector: Sequence[float], payload: T) -> None:
        """Add one vector (normalised here) with its payload."""
        self._check_dim(vector)
        row = len(self._payloads)
        if self._np is not None:
            np = self._np
            if row == self._matrix.shape[0]:
                self._grow(2 * row)
            values = np.asarray(vector, dtype=np.float32)
            norm = float(np.linalg.norm(values))
            self._matrix[row] = values / norm if norm else values
            self._alive[row] = True
        else:
            self._rows.append(array("f", unit(vector)))
        self._payloads.append(payload)

    def search(self, vector: Sequence[float], *, k: int, min_score: float) -> list[tuple[float, T]]:
        """At most ``k`` ``(score, payload)`` pairs with cosine similarity ``>= min_score``, best first."""
        self._check_dim(vector)
        if k < 1 or not self._payloads:
            return []
        if self._np is not None:
            return self._search_numpy(vector, k, min_score)
        return self._search_python(vector, k, min_score)

    def remove_if(self, predicate: Callable[[T], bool]) -> int:
        """Remove every row whose payload matches ``predicate``; returns how many were removed."""
        removed = 0
        for row, payload in enumerate(self._payloads):
            if payload is not None and predicate(payload):
                self._kill(row)
                removed += 1
        if self._dead and self._dead * 4 >= len(self._payloads):
            self._compact()
        return removed

    def payloads(self) -> list[T]:
        """Every live payload, in insertion order."""
        return [p for p in self._payloads if p is not None]

    # ------------------------------------------------------------------ internals
    def _check_dim(self, vector: Sequence[float]) -> None:
        if len(vector) != self.dim:
            raise BadRequestError(f"vector has {len(vector)} dimensions, the index expects {self.dim}")

    def _search_numpy(self, vector: Sequence[float], k: int, min_score: float) -> list[tuple[float, T]]:
        np = self._np
        n = len(self._payloads)
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        if not norm:
            return []
        scores = self._matrix[:n] @ (query / norm)
        rows = np.flatnonzero(scores >= min_score)
        if self._dead and rows.size:
            rows = rows[self._alive[rows]]
        if rows.size > k:
            rows = rows[np.argpartition(-scores[rows], k - 1)[:k]]
        ordered = rows[np.argsort(-scores[rows], kind="stable")]
        return [(float(scores[r]), self._payloads[r]) for r in ordered.tolist()]  # type: ignore[misc]

    def _search_python(self, vector: Sequence[float], k: int, min_score: float) -> list[tuple[float, T]]:
        query = unit(vector)
        if not any(query):
            return []
        hits: list[tuple[float, int]] = []
        for row, values in enumerate(self._rows):
            if self._payloads[row] is None:
                continue
            score = sum(map(operator.mul, values, query))
            if score >= min_score:
                hits.append((score, row))
        hits.sort(key=lambda hit: (-hit[0], hit[1]))
        return [(score, self._payloads[row]) for score, row in hits[:k]]  # type: ignore[misc]

    def _kill(self, row: int) -> None:
        self._payloads[row] = None
        self._dead += 1
        if self._np is not None:
            self._matrix[row] = 0.0
            self._alive[row] = False
        else:
            self._rows[row] = array("f")

    def _grow(self, capacity: int) -> None:
        np = self._np
        matrix = np.zeros((capacity, self.dim), dtype=np.float32)
        alive = np.zeros(capacity, dtype=bool)
        n = min(len(self._payloads), capacity)
        matrix[:n] = self._matrix[:n]
        alive[:n] = self._alive[:n]
        self._matrix, self._alive = matrix, alive

    def _compact(self) -> None:
        keep = [row for row, payload in enumerate(self._payloads) if payload is not None]
        if self._np is not None:
            np = self._np
            capacity = max(_INITIAL_CAPACITY, 2 * len(keep))
            matrix = np.zeros((capacity, self.dim), dtype=np.float32)
            alive = np.zeros(capacity, dtype=bool)
            if keep:
                matrix[: len(keep)] = self._matrix[np.asarray(keep)]
                alive[: len(keep)] = True
            self._matrix, self._alive = matrix, alive
        else:
            self._rows = [self._rows[row] for row in keep]
        self._payloads = [self._payloads[row] for row in keep]
        self._dead = 0
