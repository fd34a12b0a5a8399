"""gunicorn configuration: ``gunicorn -c python:connect_app.gunicorn_conf 'connect_app:create_app()'``.

Values come from Settings (so from the environment), with the reasoning for each default:

* ``workers = WEB_WORKERS`` (2): the web door does little per request (verify a JWT, parse, one atomic
  claim, one enqueue), so a couple of processes per core saturate it; more processes only cost memory.
* ``threads = WEB_THREADS`` (4, the ``gthread`` worker): requests wait on storage I/O (SQLite or Redis)
  and on the install-key fetch, so a few threads per process overlap those waits.
* ``timeout = 30``: no request does LLM or Jira work (that is the job worker's), so a request that
  takes 30 s is stuck; Forge gives an event 5 s anyway.
* ``graceful_timeout = 20``: long enough to finish in-flight requests on deploys.
* ``keepalive = 5``: Jira and proxies reuse connections; 5 s frees idle ones quickly.
* ``max_requests`` with jitter recycles workers now and then, bounding any slow memory growth.
* no control socket (several gunicorns may run on one host).
* Prometheus multiprocess metrics, correct with nothing else set (the ``Procfile``): ``on_starting``
  prepares the host's shared directory (``PROMETHEUS_MULTIPROC_DIR``, default ``DATA_DIR/prometheus``;
  files of processes no longer alive are removed, a running ``jira-ai worker``'s are kept) and exports
  it, so every gunicorn worker inherits it and one scrape of any worker sums all workers of the host,
  job workers included; ``child_exit`` tells prometheus_client that a worker is gone.
"""

from __future__ import annotations

from typing import Any

from connect_app.ops.prometheus import mark_process_dead, share_directory
from connect_app.settings import Settings

_settings = Settings.from_env()


def on_starting(server: Any) -> None:
    """Before any worker: prepare and export the shared Prometheus directory (see the docstring)."""
    share_directory(_settings)


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: prometheus_client drops its live gauges."""
    mark_process_dead(worker.pid, _settings.shared_metrics_dir)


bind = _settings.bind
workers = _settings.web_workers
worker_class = "gthread"
threads = _settings.web_threads
timeout = 30
graceful_timeout = 20
keepalive = 5
max_requests = 5000
max_requests_jitter = 500
control_socket_disable = True
accesslog = "-"
# The path without its query string, and no referrer: Connect pages load with ?jwt=<token>, and tokens
# never reach a log line.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss "%(a)s"'
