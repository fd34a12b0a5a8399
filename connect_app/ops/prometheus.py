"""Prometheus plumbing: our metric families on an explicit registry, multiprocess mode, exposition.

Nothing here registers on prometheus_client's module-global default ``REGISTRY``.

Single process: :class:`PromMetrics` owns a :class:`CollectorRegistry` and its families.

Several processes (gunicorn workers, job workers): prometheus_client's multiprocess mode. Its rules
(https://prometheus.github.io/client_python/multiprocess/):

* ``PROMETHEUS_MULTIPROC_DIR`` must name a directory before the library creates any metric; the
  library picks its value class when ``prometheus_client.values`` is first imported, so the variable
  should be exported by the start-up script (our CLI exports it before starting gunicorn or the
  worker). :func:`activate_multiprocess` also covers the case where the library was imported first.
* the directory must be wiped between runs, before any process writes to it: by the command that
  starts the web and job workers together (:func:`wipe_directory`), or by gunicorn's master
  (:func:`gunicorn_on_starting`) when its workers are the only writers. The master tells the
  library when a worker dies (:func:`gunicorn_child_exit` as gunicorn's ``child_exit`` hook).
* the scrape uses a fresh registry holding a ``MultiProcessCollector`` over the directory; the
  metric objects themselves are registered nowhere (registering them too would export duplicates).
* every process keeps one value per time series in its own mmap file: two metric objects with the
  same name in one process would overwrite each other's value, so in this mode a process shares a
  single :class:`PromMetrics` per directory (:func:`PromMetrics.create` returns it).
* gauges need a ``multiprocess_mode`` and cannot use callbacks; our gauges (breaker state, queue
  depth) come from the shared key-value store at scrape time instead (:class:`SharedStateCollector`),
  so every worker reports the same, correct values.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

log = logging.getLogger(__name__)

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
STAGE_BUCKETS_SECONDS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)
"""Latency buckets (seconds) shared by the Prometheus histograms and the store's histograms."""


# ---------------------------------------------------------------------- multiprocess mode
def multiprocess_active() -> bool:
    """True when prometheus_client writes metric values to files in ``PROMETHEUS_MULTIPROC_DIR``."""
    from prometheus_client import values

    return bool(getattr(values.ValueClass, "_multiprocess", False)) and bool(os.environ.get(ENV_VAR))


def multiprocess_directory() -> Path | None:
    """The active multiprocess directory, or None in single-process mode."""
    return Path(os.environ[ENV_VAR]) if multiprocess_active() else None


def activate_multiprocess(directory: str | Path) -> Path:
    """Put this process in multiprocess mode over ``directory`` (created if missing); returns it.

    The environment variable should already name the same directory (exported by the start-up
    script, so child processes inherit it); when it is unset it is set here, and when the library
    was imported before it was set, its value class is switched to the file-backed one. Call this
    before creating any metric. A variable naming a *different* directory is a
    :class:`ConfigError`.
    """
    path = Path(directory).resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the Prometheus multiprocess directory {path}: {exc}") from exc
    current = os.environ.get(ENV_VAR)
    if current and Path(current).resolve() != path:
        raise ConfigError(
            f"{ENV_VAR} is {current} but the settings name {path}; "
            "export the same directory for every process"
        )
    os.environ[ENV_VAR] = str(path)
    from prometheus_client import values

    if not getattr(values.ValueClass, "_multiprocess", False):
        # The library chose its in-memory value class at import, before the variable was set.
        log.info("prometheus_client was imported before %s was set; switching to multiprocess mode", ENV_VAR)
        values.ValueClass = values.get_value_class()
    return path


def wipe_directory(directory: str | Path) -> None:
    """Remove the metric files of a previous run (gunicorn ``on_starting``, before any worker)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for db in path.glob("*.db"):
        db.unlink(missing_ok=True)


def mark_process_dead(pid: int, directory: str | Path | None = None) -> None:
    """Tell prometheus_client that process ``pid`` is gone (its live gauges stop counting)."""
    from prometheus_client import multiprocess

    path = directory or os.environ.get(ENV_VAR)
    if path:
        multiprocess.mark_process_dead(pid, str(path))


def gunicorn_on_starting(server: Any) -> None:
    """The ``on_starting`` hook for gunicorn: wipes ``PROMETHEUS_MULTIPROC_DIR`` before any worker.

    Only when gunicorn's workers are the only processes writing to the directory: when job
    workers share it, wipe it once before starting them all instead (their open files would be
    unlinked under them).
    """
    path = os.environ.get(ENV_VAR)
    if path:
        wipe_directory(path)


def gunicorn_child_exit(server: Any, worker: Any) -> None:
    """The ``child_exit`` hook for gunicorn: ``child_exit = gunicorn_child_exit`` in the config file."""
    mark_process_dead(worker.pid)


# ---------------------------------------------------------------------- the metric families
@dataclass(frozen=True)
class PromMetrics:
    """The product's Prometheus metric families and how to expose them.

    ``registry`` is this object's own registry in single-process mode, None in multiprocess mode
    (the scrape then aggregates ``multiproc_dir``).
    """

    registry: Any
    multiproc_dir: Path | None
    requests: Any
    pipeline_seconds: Any
    stage_seconds: Any
    classifications: Any
    llm_calls: Any
    llm_tokens: Any
    llm_cost_usd: Any
    llm_seconds: Any
    cache_events: Any
    cache_saved_usd: Any
    errors: Any
    budget_refusals: Any
    cost_alerts: Any

    @classmethod
    def create(cls, multiproc_dir: str | Path | None = None) -> PromMetrics:
        """Families for this process.

        With ``multiproc_dir`` (or when the process is already in multiprocess mode) the process's
        one shared set for that directory; otherwise a new set on a new private registry.
        """
        if multiproc_dir is not None:
            activate_multiprocess(multiproc_dir)
        directory = multiprocess_directory()
        if directory is not None:
            return _process_families(str(directory))
        from prometheus_client import CollectorRegistry

        return cls._build(CollectorRegistry(), None)

    @classmethod
    def _build(cls, registry: Any, directory: Path | None) -> PromMetrics:
        from prometheus_client import Counter, Histogram

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return Counter(name, doc, labels, registry=registry)

        def histogram(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return Histogram(name, doc, labels, buckets=STAGE_BUCKETS_SECONDS, registry=registry)

        return cls(
            registry=registry,
            multiproc_dir=directory,
            requests=counter("jira_ai_requests_total", "Assistant requests processed", ("intent", "status")),
            pipeline_seconds=histogram("jira_ai_pipeline_seconds", "Time to process one request end to end"),
            stage_seconds=histogram("jira_ai_stage_seconds", "Time spent in a pipeline stage", ("stage",)),
            classifications=counter(
                "jira_ai_classifications_total", "Intent classifications", ("intent", "source")
            ),
            llm_calls=counter("jira_ai_llm_calls_total", "Language model calls", ("model", "status")),
            llm_tokens=counter("jira_ai_llm_tokens_total", "Language model tokens", ("model", "kind")),
            llm_cost_usd=counter("jira_ai_llm_cost_usd_total", "Language model spend in USD", ("model",)),
            llm_seconds=histogram("jira_ai_llm_seconds", "Language model call latency", ("model",)),
            cache_events=counter("jira_ai_cache_events_total", "Response cache events", ("layer", "event")),
            cache_saved_usd=counter(
                "jira_ai_cache_saved_usd_total", "Model spend avoided by cache hits, in USD", ("layer",)
            ),
            errors=counter("jira_ai_errors_total", "Errors by stable error code", ("code",)),
            budget_refusals=counter(
                "jira_ai_budget_refusals_total", "Model calls refused by a site's daily budget"
            ),
            cost_alerts=counter("jira_ai_cost_alerts_total", "Daily cost alerts raised"),
        )

    def exposition(self, collectors: Iterable[Any] = (), accept: str = "") -> tuple[bytes, str]:
        """The text exposition (body, content type) of our families plus ``collectors``.

        In multiprocess mode the families are read from every process's files in the directory.
        ``accept`` is the scraper's Accept header (OpenMetrics when it asks for it).
        """
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import choose_encoder

        scrape = CollectorRegistry()
        if self.multiproc_dir is not None:
            from prometheus_client.multiprocess import MultiProcessCollector

            MultiProcessCollector(scrape, path=str(self.multiproc_dir))
        else:
            scrape.register(_Forward(self.registry))
        for collector in collectors:
            scrape.register(collector)
        encoder, content_type = choose_encoder(accept)
        return encoder(scrape), content_type


# Per-process table, like prometheus_client's own table of mmap files (see the module docstring):
# filled on first use, never at import.
_FAMILIES: dict[str, PromMetrics] = {}
_FAMILIES_LOCK = threading.Lock()


def _process_families(directory: str) -> PromMetrics:
    """The one set of families per process and directory (see the module docstring for why)."""
    with _FAMILIES_LOCK:
        families = _FAMILIES.get(directory)
        if families is None:
            families = _FAMILIES[directory] = PromMetrics._build(None, Path(directory))
        return families


class _Forward:
    """Registers another registry's metrics in a scrape registry (a registry is a collector)."""

    def __init__(self, registry: Any) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Any]:
        """Everything the wrapped registry collects."""
        yield from self._registry.collect()


# ---------------------------------------------------------------------- state from the shared store
class SharedStateCollector:
    """Gauges read from the shared store at scrape time, so every process reports the same values.

    ``jira_ai_breaker_state{name}`` (0 closed, 1 half-open, 2 open) from a breaker registry and
    ``jira_ai_queue_depth`` from a callable. A failing source is skipped (logged), never fatal to
    the scrape.
    """

    def __init__(
        self, *, breakers: Any = None, queue_depth: Callable[[], int] | None = None
    ) -> None:
        """``breakers`` is a :class:`~connect_app.ops.breaker.BreakerRegistry` (or None)."""
        self._breakers = breakers
        self._queue_depth = queue_depth

    def collect(self) -> Iterator[Any]:
        """The gauges."""
        from prometheus_client.core import GaugeMetricFamily

        from .breaker import STATE_VALUES

        if self._breakers is not None:
            try:
                snapshots = self._breakers.snapshots()
            except Exception as exc:
                log.warning("breaker states unavailable for /metrics: %s", type(exc).__name__)
            else:
                family = GaugeMetricFamily(
                    "jira_ai_breaker_state",
                    "Circuit breaker state: 0 closed, 1 half-open, 2 open",
                    labels=["name"],
                )
                for snap in snapshots:
                    family.add_metric([snap["name"]], STATE_VALUES.get(snap["state"], 0))
                yield family
        if self._queue_depth is not None:
            try:
                depth = int(self._queue_depth())
            except Exception as exc:
                log.warning("queue depth unavailable for /metrics: %s", type(exc).__name__)
            else:
                yield GaugeMetricFamily(
                    "jira_ai_queue_depth", "Jobs accepted and not yet finished", value=depth
                )
