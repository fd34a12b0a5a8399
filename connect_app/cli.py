"""The ``jira-ai`` command: serve, worker, check, descriptor, demo, classify, ask."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from .errors import ConfigError
from .settings import Settings


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        print(f"jira-ai: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_check(_args: argparse.Namespace) -> int:
    """Validate configuration and print what is wrong (exit 1), or the effective settings (exit 0)."""
    try:
        settings = Settings.from_env(env_file=".env")
    except ConfigError as exc:
        print("Configuration problems:")
        for problem in exc.message.removeprefix("invalid configuration: ").split("; "):
            print(f"  - {problem}")
        return 1
    print(json.dumps({"status": "ok", "settings": settings.redacted()}, indent=2))
    from .storage.factory import open_stores

    stores = open_stores(settings)
    try:
        stores.durable.ping()
        print(f"storage: ok ({'redis' if settings.redis_url else settings.data_dir})")
    finally:
        stores.close()
    return 0


def cmd_descriptor(_args: argparse.Namespace) -> int:
    """Print the Connect descriptor rendered for APP_BASE_URL."""
    from .platform.connect.descriptor import render_descriptor

    print(json.dumps(render_descriptor(_settings()), indent=2))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the job consumer until interrupted.

    Its metrics go to the host's shared Prometheus directory (``PROMETHEUS_MULTIPROC_DIR``, default
    ``DATA_DIR/prometheus``), where the web's scrape finds them; a live web's files are kept.
    """
    from .ops.logging import configure_logging
    from .ops.prometheus import share_directory
    from .services import build_services

    settings = _settings()
    configure_logging(settings)
    settings = share_directory(settings)
    services = build_services(settings)
    try:
        services.warm_up()
        services.queue.run_worker(services.pipeline, workers=args.workers)
    finally:
        services.close()
    return 0


def gunicorn_command(settings: Settings, *, bind: str | None = None) -> list[str]:
    """The gunicorn command line serving ``connect_app:create_app()`` with our config module."""
    return [sys.executable, "-m", "gunicorn", "-c", "python:connect_app.gunicorn_conf", "--bind",
            bind or settings.bind, "connect_app:create_app()"]


def multiprocess_env(settings: Settings) -> dict[str, str]:
    """Environment additions so web and job workers share one Prometheus multiprocess directory.

    The directory (``PROMETHEUS_MULTIPROC_DIR``, default ``DATA_DIR/prometheus``) is prepared here
    (files of processes no longer alive removed) before the processes that write to it start.
    """
    from .ops.prometheus import prepare_directory

    return {"PROMETHEUS_MULTIPROC_DIR": str(prepare_directory(settings.shared_metrics_dir))}


def cmd_serve(args: argparse.Namespace) -> int:
    """Run web (gunicorn) and worker together: the embedded, one-machine mode."""
    settings = _settings()
    env = Settings.child_environment(multiprocess_env(settings))
    children = [
        subprocess.Popen([sys.executable, "-m", "connect_app.cli", "worker"], env=env),
        subprocess.Popen(gunicorn_command(settings, bind=args.bind), env=env),
    ]
    print(
        f"jira-ai: serving {settings.app_base_url} on {args.bind or settings.bind} with a job worker",
        file=sys.stderr,
    )

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        stop()
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
    return max((child.returncode or 0) for child in children)


def cmd_classify(args: argparse.Namespace) -> int:
    """Print one JSON line per text: its intent, confidence and which stage decided."""
    from .services import build_services

    settings = _settings()
    services = build_services(settings)  # the same classifier, budget and ledger as a real request
    try:
        texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
        for text in texts:
            result = services.classifier.classify(text)
            line = {"text": text, "intent": result.intent.value, "confidence": round(result.confidence, 3),
                    "source": result.source}
            print(json.dumps(line, ensure_ascii=False))
    finally:
        services.close()
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    """Classify and draft a reply without Jira; print the facade's result dict as JSON."""
    from .assistant import JiraAIAssistant
    from .ops.logging import configure_logging

    settings = _settings()
    configure_logging(settings.replace(log_level="WARNING"))
    issue = None
    if args.issue:
        try:
            with open(args.issue, encoding="utf-8") as handle:
                issue = json.load(handle)
        except (OSError, ValueError) as exc:
            print(f"jira-ai: cannot read --issue {args.issue}: {exc}", file=sys.stderr)
            return 2
    assistant = JiraAIAssistant(settings)
    try:
        result = assistant.process_user_message(args.text, tenant=args.tenant, issue=issue, user=args.user)
    finally:
        assistant.close()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if result["success"] else 1


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the end-to-end demo against the local Jira simulator."""
    from .devtools.demo import run_demo

    return run_demo(forge=args.forge, keep_data=args.keep_data)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="jira-ai", description="Jira AI Assistant")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run web and worker together (embedded mode)")
    serve.add_argument("--bind", default=None, help="host:port (default BIND or 127.0.0.1:8000)")
    serve.set_defaults(func=cmd_serve)
    worker = sub.add_parser("worker", help="run the job consumer")
    worker.add_argument("--workers", type=int, default=None, help="worker threads (default QUEUE_WORKERS)")
    worker.set_defaults(func=cmd_worker)
    sub.add_parser("check", help="validate configuration and print what is wrong").set_defaults(
        func=cmd_check
    )
    sub.add_parser("descriptor", help="print the rendered Connect descriptor").set_defaults(
        func=cmd_descriptor
    )
    classify = sub.add_parser("classify", help="classify texts (arguments, or one per line on stdin)")
    classify.add_argument("texts", nargs="*")
    classify.set_defaults(func=cmd_classify)
    ask = sub.add_parser("ask", help="draft a reply without Jira and print the result as JSON")
    ask.add_argument("text", help="the request, e.g. 'summarize this'")
    ask.add_argument("--issue", help="a JSON file with the issue's fields (key, summary, description, ...)")
    ask.add_argument("--tenant", default="local", help="the site id whose budget and caches apply")
    ask.add_argument("--user", default=None, help="who is asking (display name)")
    ask.set_defaults(func=cmd_ask)
    demo = sub.add_parser("demo", help="run the end-to-end demo against the local Jira simulator")
    demo.add_argument("--forge", action="store_true", help="go through the Forge door")
    demo.add_argument("--keep-data", action="store_true", help="keep the demo's data directory")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jira-ai`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
