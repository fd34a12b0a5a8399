"""The spend bookkeeping shared by the model manager and the embedding meter keeps each caller's log lines."""

from __future__ import annotations

import logging

import pytest

from connect_app.errors import BudgetExceededError
from connect_app.llm.budget import BudgetGuard
from connect_app.llm.embedding_meter import EmbeddingMeter
from connect_app.llm.manager import ModelManager
from connect_app.llm.prices import PriceTable
from connect_app.llm.spend import SpendBook
from connect_app.storage.disk import DiskStore
from connect_app.storage.ledger import CostLedger
from connect_app.storage.site_settings import SiteSettings


class BrokenLedger:
    def record_call(self, **kwargs):
        raise RuntimeError("ledger down")


class CountingMetrics:
    def __init__(self):
        self.refusals = []

    def record_budget_refusal(self, tenant_id):
        self.refusals.append(tenant_id)


@pytest.fixture
def store(tmp_path):
    s = DiskStore(tmp_path / "durable")
    yield s
    s.close()


def test_a_failing_step_is_logged_under_the_callers_logger_and_label(settings, caplog):
    log = logging.getLogger("connect_app.llm.embedding_meter")
    book = SpendBook(settings, ledger=BrokenLedger(), log=log, label="embedding")

    with caplog.at_level(logging.ERROR):
        assert book.safe(book.ledger, "record_call", tenant_id="s") is None
    (record,) = caplog.records
    assert record.name == "connect_app.llm.embedding_meter"
    assert record.getMessage() == "embedding bookkeeping step BrokenLedger.record_call failed"
    assert book.safe(None, "anything") is None


def test_a_refusal_is_logged_counted_and_reraised(settings, store, caplog):
    ledger = CostLedger(store)
    metrics = CountingMetrics()
    book = SpendBook(settings, budget=BudgetGuard(store, ledger), ledger=ledger, metrics=metrics,
                     log=logging.getLogger("connect_app.llm.manager"), label="llm")

    with caplog.at_level(logging.INFO, logger="connect_app.llm.manager"), pytest.raises(BudgetExceededError):
        book.reserve("site-a", SiteSettings(daily_limit_usd=0.000001), 5, "summary")
    assert metrics.refusals == ["site-a"]
    assert "budget refusal site=site-a intent=summary worst_case_micros=5 limit_micros=1" in caplog.text
    assert all(r.name == "connect_app.llm.manager" for r in caplog.records)


def test_the_manager_and_the_meter_expose_their_books_collaborators(settings, store):
    ledger = CostLedger(store)
    budget = BudgetGuard(store, ledger)
    prices = PriceTable.load(settings)
    manager = ModelManager(settings, None, prices=prices, budget=budget, ledger=ledger)
    meter = EmbeddingMeter(settings, prices=prices, budget=budget, ledger=ledger)

    for owner in (manager, meter):
        assert owner.budget is owner.spend.budget is budget
        assert owner.ledger is owner.spend.ledger is ledger
        assert owner.metrics is owner.spend.metrics is None
