"""The in-memory vector index: both backends agree, thresholds, top-k, removal and compaction."""

from __future__ import annotations

import random

import pytest

from connect_app.cache.index import VectorIndex, numpy_module, unit
from connect_app.errors import BadRequestError

BACKENDS = ["python"] + (["numpy"] if numpy_module() is not None else [])


def vectors(count: int, dim: int, seed: int = 1) -> list[list[float]]:
    rng = random.Random(seed)
    return [unit([rng.gauss(0, 1) for _ in range(dim)]) for _ in range(count)]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


def test_finds_the_nearest_rows_best_first(backend):
    rows = vectors(300, 32)
    index: VectorIndex[int] = VectorIndex(32, backend=backend)
    for i, row in enumerate(rows):
        index.add(row, i)
    assert len(index) == 300 and index.backend == backend
    found = index.search(rows[123], k=5, min_score=0.5)
    assert found[0][1] == 123 and found[0][0] == pytest.approx(1.0, abs=1e-5)
    assert [score for score, _ in found] == sorted((score for score, _ in found), reverse=True)
    assert all(score >= 0.5 for score, _ in found)


def test_vectors_are_normalised_and_scores_are_cosines(backend):
    index: VectorIndex[str] = VectorIndex(2, backend=backend)
    index.add([10.0, 0.0], "x")
    index.add([0.0, 3.0], "y")
    index.add([1.0, 1.0], "xy")
    found = dict((payload, score) for score, payload in index.search([2.0, 0.0], k=10, min_score=0.0))
    assert found["x"] == pytest.approx(1.0)
    assert found["xy"] == pytest.approx(2 ** -0.5, rel=1e-5)
    assert found["y"] == pytest.approx(0.0, abs=1e-6)


def test_k_and_threshold_limit_the_answer(backend):
    index: VectorIndex[int] = VectorIndex(3, backend=backend)
    for i in range(50):
        index.add([1.0, 0.001 * i, 0.0], i)
    assert len(index.search([1.0, 0.0, 0.0], k=7, min_score=0.9)) == 7
    assert index.search([0.0, 0.0, 1.0], k=7, min_score=0.9) == []
    assert index.search([0.0, 0.0, 0.0], k=7, min_score=0.0) == []  # a zero query matches nothing


def test_remove_if_hides_rows_and_compacts(backend):
    rows = vectors(100, 16, seed=7)
    index: VectorIndex[int] = VectorIndex(16, backend=backend)
    for i, row in enumerate(rows):
        index.add(row, i)
    assert index.remove_if(lambda i: i % 2 == 0) == 50
    assert len(index) == 50 and index.payloads() == list(range(1, 100, 2))
    assert all(payload % 2 for _, payload in index.search(rows[10], k=100, min_score=-1.0))
    assert index.search(rows[11], k=1, min_score=0.99)[0][1] == 11  # still found after compaction
    index.add(rows[10], 10)
    assert index.search(rows[10], k=1, min_score=0.99)[0][1] == 10


def test_both_backends_return_the_same_answer():
    if numpy_module() is None:
        pytest.skip("numpy is not installed")
    rows = vectors(500, 24, seed=3)
    fast: VectorIndex[int] = VectorIndex(24, backend="numpy")
    slow: VectorIndex[int] = VectorIndex(24, backend="python")
    for i, row in enumerate(rows):
        fast.add(row, i)
        slow.add(row, i)
    for query in vectors(20, 24, seed=9):
        a = fast.search(query, k=10, min_score=0.2)
        b = slow.search(query, k=10, min_score=0.2)
        assert [p for _, p in a] == [p for _, p in b]
        assert [s for s, _ in a] == pytest.approx([s for s, _ in b], abs=1e-5)


def test_bad_arguments_get_typed_errors():
    with pytest.raises(BadRequestError):
        VectorIndex(0)
    with pytest.raises(BadRequestError):
        VectorIndex(8, backend="faiss")
    index: VectorIndex[int] = VectorIndex(8, backend="python")
    with pytest.raises(BadRequestError, match="8"):
        index.add([1.0, 2.0], 1)
    with pytest.raises(BadRequestError):
        index.search([1.0], k=1, min_score=0.5)


def test_without_numpy_auto_falls_back_to_pure_python(monkeypatch):
    from connect_app.cache import index as index_module

    monkeypatch.setattr(index_module, "numpy_module", lambda: None)
    index: VectorIndex[int] = VectorIndex(4)
    assert index.backend == "python"
    index.add([1.0, 0.0, 0.0, 0.0], 1)
    assert index.search([1.0, 0.1, 0.0, 0.0], k=1, min_score=0.9)[0][1] == 1
    with pytest.raises(BadRequestError, match="pip install numpy"):
        VectorIndex(4, backend="numpy")
