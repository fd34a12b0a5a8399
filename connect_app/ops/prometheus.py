"""Prometheus plumbing: our metric families on an explicit registry, multiprocess mode, exposition.

Nothing here registers on prometheus_client's module-global default ``REGISTRY``.

Single process: :class:`PromMetrics` owns a :class:`CollectorRegistry` and its families.

Several processes (gunicorn workers, job workers): prometheus_client's multiprocess mode. Its rules
(https://prometheus.github.io/client_python/multiprocess/), and how we follow them:

* the library reads ``PROMETHEUS_MULTIPROC_DIR`` itself (to pick its value class when
  ``prometheus_client.values`` is imported, and to name each value file), so the variable must be in
  the process's environment before any metric exists. Our code gets the directory from
  :class:`~connect_app.settings.Settings` and passes it here as an argument; only Settings touches
  the environment (:meth:`~connect_app.settings.Settings.export_prometheus_multiproc_dir`).
  :func:`activate_multiprocess` also covers the case where the library was imported first.
* the directory holds one file per process and kind (``counter_<pid>.db``...). At start, the server
  processes (gunicorn's master in ``on_starting``, ``jira-ai worker``, ``jira-ai serve``) call
  :func:`share_directory`, which removes the files of processes that are no longer alive
  (:func:`prepare_directory`) and never those of a live one, so web and job workers may start in
  any order. The master tells the library when a worker dies (:func:`mark_process_dead` from
  gunicorn's ``child_exit``).
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
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ..settings import Settings

log = logging.getLogger(__name__)

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"  # its name, for messages; Settings reads and exports it
STAGE_BUCKETS_SECONDS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)
"""Latency buckets (seconds) shared by the Prometheus histograms and the store's histograms."""


# ---------------------------------------------------------------------- multiprocess mode
def multiprocess_active() -> bool:
    """True when prometheus_client writes metric values to files (its multiprocess value class)."""
    from prometheus_client import values

    return bool(getattr(values.ValueClass, "_multiprocess", False))


def multiprocess_directory() -> Path | None:
    """The directory this process activated (:func:`activate_multiprocess`), or None."""
    return _ACTIVE[0] if _ACTIVE and multiprocess_active() else None


def activate_multiprocess(directory: str | Path) -> Path:
    """Put this process in multiprocess mode over ``directory`` (created if missing); returns it.

    ``PROMETHEUS_MULTIPROC_DIR`` must already name the same directory in this process's environment
    (exported by the start-up code through Settings, or inherited); when the library was imported
    before that, its value class is switched to the file-backed one here. Call this before creating
    any metric. A process uses one directory: asking for a second is a :class:`ConfigError`, and so
    is a variable that was never exported (the library would have nowhere to write).
    """
    path = Path(directory).resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the Prometheus multiprocess directory {path}: {exc}") from exc
    from prometheus_client import values

    with _FAMILIES_LOCK:
        if _ACTIVE and _ACTIVE[0] != path:
            raise ConfigError(
                f"this process already writes its metrics to {_ACTIVE[0]}, not {path}; "
                f"export the same {ENV_VAR} for every process"
            )
        if not getattr(values.ValueClass, "_multiprocess", False):
            # The library chose its in-memory value class at import, before the variable was set.
            chosen = values.get_value_class()
            if not getattr(chosen, "_multiprocess", False):
                raise ConfigError(
                    f"{ENV_VAR} is not in this process's environment; export it from Settings "
                    "(Settings.export_prometheus_multiproc_dir) before creating metrics"
                )
            log.info("prometheus_client was imported before %s was set; switching to multiprocess mode",
                     ENV_VAR)
            values.ValueClass = chosen
        _ACTIVE[:] = [path]
    return path


def prepare_directory(directory: str | Path) -> Path:
    """Create ``directory`` and remove the metric files of processes that are not alive; returns it.

    Files are named ``<kind>_<pid>.db``; a live process's files are never touched, so a web and a job
    worker sharing the directory may start in either order. A pid reused by an unrelated process keeps
    its stale file (its counts stay in the totals, harmless for counters). The pids must be this
    host's: the directory is per host (each host its own ``DATA_DIR``), never on a shared volume.
    """
    path = Path(directory).resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the Prometheus multiprocess directory {path}: {exc}") from exc
    for db in path.glob("*.db"):
        pid = _file_pid(db)
        if pid is None or not _alive(pid):
            db.unlink(missing_ok=True)
    return path


def share_directory(settings: Settings) -> Settings:
    """Start of a server process: prepare ``settings.shared_metrics_dir`` and export it.

    Returns the settings naming that directory, for building the services. gunicorn's master calls
    it in ``on_starting`` (its workers inherit the variable), ``jira-ai worker`` before building its
    services.
    """
    shared = settings.replace(prometheus_multiproc_dir=prepare_directory(settings.shared_metrics_dir))
    shared.export_prometheus_multiproc_dir()
    return shared


def mark_process_dead(pid: int, directory: str | Path) -> None:
    """Tell prometheus_client that process ``pid`` is gone (its live gauges stop counting)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(directory))


def _file_pid(db: Path) -> int | None:
    """The pid in a value file's name (``counter_123.db``, ``gauge_livesum_123.db``), or None."""
    tail = db.stem.rpartition("_")[2]
    return int(tail) if tail.isdigit() else None


def _alive(pid: int) -> bool:
    """True when process ``pid`` exists on this host (signal 0 checks without signalling)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    except OSError:
        return False
    return True


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
_ACTIVE: list[Path] = []  # the directory this process activated, once it has


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
