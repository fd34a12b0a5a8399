"""Process helpers of the scale benchmarks: memory and CPU of process trees, Redis counters, bare gunicorn."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

from bench import procs

CHILD_SCRIPT = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"


def test_rss_of_this_process_and_of_a_gone_one():
    assert procs.rss_kib(os.getpid()) > 1000
    assert procs.rss_kib(2**22 + 12345) == 0


def test_tree_rss_and_cpu_include_the_children():
    parent = subprocess.Popen([sys.executable, "-c", CHILD_SCRIPT], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not procs.children_of(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = procs.tree_rss(parent.pid)
        assert len(tree["children_mib"]) == 1
        assert tree["total_mib"] == pytest.approx(tree["process_mib"] + tree["children_mib"][0], abs=0.2)
        assert procs.tree_pids(parent.pid)[0] == parent.pid and len(procs.tree_pids(parent.pid)) == 2
        assert procs.cpu_seconds(parent.pid) >= 0
    finally:
        procs.stop_group(parent)
    assert parent.poll() is not None


def test_the_rss_sampler_keeps_the_peak_of_each_tree_while_it_grows():
    grow = ("import time; blocks = []\n"
            "for _ in range(20): blocks.append(bytearray(4 * 1024 * 1024)); time.sleep(0.02)\n"
            "del blocks; time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", grow], start_new_session=True)
    try:
        with procs.RssSampler({"grower": proc.pid}, interval=0.01) as sampler:
            time.sleep(1.5)  # 80 MiB allocated, then freed
            peaks = sampler.stop()
        after = procs.tree_rss(proc.pid)["total_mib"]
        assert sampler.samples > 10
        assert peaks["grower"]["total_mib"] >= after + 60  # the peak, not the reading afterwards
        assert peaks["grower"]["process_mib"] == peaks["grower"]["total_mib"]
        assert peaks["grower"]["children_mib"] == []
    finally:
        procs.stop_group(proc)


def test_pause_and_resume_a_process_group():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        procs.pause(proc)
        time.sleep(0.1)
        with open(f"/proc/{proc.pid}/stat") as handle:
            assert handle.read().rsplit(")", 1)[1].split()[0] == "T"  # stopped
        procs.resume(proc)
    finally:
        procs.stop_group(proc)


def test_command_delta_counts_per_unit_and_leaves_out_info_and_script_internals():
    before = {"get": 10, "evalsha": 5, "incrby": 5, "info": 3}
    after = {"get": 30, "evalsha": 25, "incrby": 25, "pttl": 10, "info": 9, "set": 10}
    delta = procs.command_delta(before, after, per=10)
    assert delta["commands"] == (20 + 20 + 20 + 10 + 10) / 10
    assert delta["round_trips"] == (20 + 20 + 10) / 10  # get, evalsha, set: incrby and pttl ran inside
    assert delta["evalsha"] == 2.0
    assert "info" not in delta["top"]


@pytest.mark.redis
def test_a_private_redis_server_counts_commands_and_stops():
    with procs.RedisServer() as server:
        before = server.command_calls()
        client = server.client(5)
        client.set("k", "v")
        client.get("k")
        client.close()
        delta = procs.command_delta(before, server.command_calls(), per=1)
        assert delta["top"]["set"] == 1 and delta["top"]["get"] == 1
        assert server.used_memory() > 0
        rates = server.raw_ops_per_s(requests=500, clients=2)
        assert set(rates) <= {"set", "incr"} and all(rate > 0 for rate in rates.values())
        pid = server.proc.pid
    assert procs.rss_kib(pid) == 0


@pytest.mark.e2e
def test_the_bare_app_runs_on_the_products_gunicorn_settings(tmp_path):
    with open(tmp_path / "bare.log", "wb") as log:
        proc, url = procs.start_bare_gunicorn(2, tmp_path / "data", log)
        try:
            assert requests.post(url + "/connect/webhooks/comment-created", data=b"{}", timeout=5).status_code == 204
            assert len(procs.tree_rss(proc.pid)["children_mib"]) == 2
        finally:
            procs.stop_group(proc)
