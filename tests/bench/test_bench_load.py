"""The benchmark's load generator and bare ceiling app, against a real server on loopback."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from bench.bare_app import create_app
from bench.load import PreparedRequest, require_loopback, run_load
from connect_app.errors import BadRequestError


@pytest.fixture(scope="module")
def bare_url():
    server = make_server("127.0.0.1", 0, create_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def batch(count: int) -> list[PreparedRequest]:
    return [PreparedRequest(b'{"n": %d}' % n, {"Content-Type": "application/json"}) for n in range(count)]


def test_the_bare_app_answers_any_post_with_204():
    client = create_app().test_client()
    assert client.post("/connect/webhooks/comment-created", data=b"{}").status_code == 204
    assert client.get("/healthz").status_code == 200


def test_every_prepared_request_is_sent_once_and_timed(bare_url):
    result = run_load(bare_url + "/hook", batch(60), concurrency=4, max_seconds=10)
    assert result.sent == 60 and result.errors == 0
    assert result.statuses == {204: 60} and result.ok == 60
    assert len(result.latencies_ms) == 60 and all(ms > 0 for ms in result.latencies_ms)
    summary = result.summary()
    assert summary["requests_per_s"] > 0
    assert 0 < summary["p50_ms"] <= summary["p99_ms"]


def test_the_time_bound_stops_a_run_early(bare_url):
    result = run_load(bare_url + "/hook", batch(100_000), concurrency=2, max_seconds=0.3)
    assert 0 < result.sent < 100_000
    assert result.elapsed_s < 5


def test_a_refused_connection_is_an_error_not_a_crash():
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_load(f"http://127.0.0.1:{port}/hook", batch(3), concurrency=1, max_seconds=5, timeout=1)
    assert result.errors == 3 and result.ok == 0 and result.requests_per_s == 0


@pytest.mark.parametrize("url", ["http://example.com/hook", "https://127.0.0.1/hook", "http://10.0.0.1:80/"])
def test_only_loopback_http_is_a_target(url):
    with pytest.raises(BadRequestError):
        require_loopback(url)
    with pytest.raises(BadRequestError):
        run_load(url, batch(1), concurrency=1, max_seconds=1)


def test_bounds_must_make_sense(bare_url):
    with pytest.raises(BadRequestError):
        run_load(bare_url, batch(1), concurrency=0, max_seconds=1)
    with pytest.raises(BadRequestError):
        run_load(bare_url, batch(1), concurrency=1, max_seconds=0)
