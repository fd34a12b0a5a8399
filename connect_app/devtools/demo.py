"""``jira-ai demo``: the whole product on one machine, every intent, in well under a minute.

Starts the Jira simulator, the app (gunicorn) and a worker as real processes, installs the app the way
Jira does (a signed Connect install, or with ``--forge`` a Forge Remote installation whose events carry
Forge Invocation Tokens), writes ``@ai`` comments as real users, waits for the replies and prints each
request with its reply and the transitions it made (from -> to).

It uses the configured model when ``OPENAI_API_KEY`` is set (with ``OPENAI_API_BASE_URL``,
``LLM_PROVIDER`` and the other LLM settings as given), the offline provider otherwise, and says which.
"""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..settings import Settings
from .stack import LocalStack

DANA = "5b10ac8d82e05b22cc7d4ef5"  # reporter, may transition issues
SAM = "5b10a0effa615349cb016cd8"  # support agent without the "Transition issues" permission


@dataclass
class DemoRequest:
    """One ``@ai`` comment the demo writes."""

    issue: str
    author: str
    text: str
    expect: str


def seed(sim: Any) -> dict[str, str]:
    """Users, a project and three issues with some history."""
    sim.add_user(DANA, "Dana Whitfield", email="dana@example.com")
    sim.add_user(SAM, "Sam Okafor", email="sam@example.com")
    sim.add_project("SUP", "Customer Support")
    sim.revoke(SAM, "TRANSITION_ISSUES", "SUP")
    one = sim.add_issue(
        "SUP",
        "Checkout times out for EU customers",
        description_text=(
            "Since the 14 November release, customers on the EU cluster see a timeout on the "
            "payment step. Roughly 3% of checkouts fail. The customer (Northwind Traders) "
            "escalated on Friday and expects an update by Wednesday."
        ),
        status="In Progress",
        assignee=DANA,
        reporter=SAM,
        due_date="2026-11-27",
        priority="High",
        labels=["checkout", "eu"],
    )
    sim.add_comment(
        one["key"], SAM, "Northwind asked whether orders placed during the outage were charged twice?"
    )
    sim.add_comment(
        one["key"],
        DANA,
        "Root cause: the payment provider's EU endpoint changed its TLS chain; our "
        "client pinned the old intermediate. Fix is in review, ETA Tuesday.",
    )
    two = sim.add_issue(
        "SUP",
        "Cache TTL too long on pricing API",
        description_text="Prices stay stale for 24 hours after an update.",
        status="In Progress",
        assignee=DANA,
        reporter=DANA,
    )
    sim.add_comment(two["key"], DANA, "Lowered the TTL to 5 minutes and purged the CDN; verified on staging.")
    three = sim.add_issue(
        "SUP",
        "Typo on the invoice footer",
        description_text="'Thank you for you business'",
        status="To Do",
        assignee=SAM,
        reporter=DANA,
    )
    return {"one": one["key"], "two": two["key"], "three": three["key"]}


def requests_for(keys: dict[str, str]) -> list[DemoRequest]:
    """The demo's requests: every intent, plus a refusal."""
    return [
        DemoRequest(keys["one"], DANA, "@ai summarize this", "summary_request"),
        DemoRequest(
            keys["one"], SAM, "@ai draft an apologetic email to the customer about the delay", "email_request"
        ),
        DemoRequest(keys["one"], DANA, "@ai write a status update for the team", "comment_request"),
        DemoRequest(
            keys["two"], DANA, "@ai mark this done and note that the TTL fix is deployed", "task_completion"
        ),
        DemoRequest(keys["three"], SAM, "@ai close this issue", "task_completion (refused: no permission)"),
        DemoRequest(keys["one"], SAM, "@ai help", "help"),
        DemoRequest(keys["three"], DANA, "@ai hmm, banana?", "unclear"),
    ]


def _reply_to(sim: Any, issue: str, comment_id: str, timeout: float) -> dict[str, Any]:
    def is_reply(c: dict[str, Any]) -> bool:
        marker = (c.get("properties") or {}).get("jira-ai-reply") or {}
        return marker.get("request") == f"comment:{comment_id}"

    return sim.wait_for_comment(issue, is_reply, timeout=timeout)


def llm_mode_from_env(environ: Mapping[str, str]) -> str:
    """``"env"`` (use the configured model) when an OpenAI key is set, else ``"offline"``."""
    return "env" if environ.get("OPENAI_API_KEY", "").strip() else "offline"


def _llm_line(stack: LocalStack) -> str:
    """Which model answers, as the app processes see their settings."""
    settings = Settings.from_env(stack.env(), env_file=None)
    if settings.llm_provider == "offline":
        return ("LLM: offline provider (no OPENAI_API_KEY set): replies are labelled drafts written from the "
                "issue's data by templates")
    where = settings.openai_api_base_url or "the provider's default endpoint"
    source = "fake OpenAI-compatible server" if stack.llm_mode == "fake" else "configured model"
    model = settings.openai_primary_model
    return f"LLM: {source}, provider {settings.llm_provider}, model {model} at {where}"


def _reply_source(marker: dict[str, Any]) -> str:
    """Who wrote a reply: the model (which), the offline writer, or a fixed text."""
    if marker.get("model"):
        return f"written by model {marker['model']}"
    return "offline draft" if marker.get("offline") else "fixed text (no model needed)"


def _status(sim: Any, key: str) -> str:
    return str(sim.issue(key)["fields"]["status"]["name"])


def _install_line(stack: LocalStack, tenant_id: str) -> str:
    """How the app was installed, for the demo's header."""
    if stack.door == "forge":
        inst = stack.sim.forge.installation()
        return (
            f"Installed through Forge: installation {tenant_id.rsplit('/', 1)[-1][:12]}…, app user "
            f"{inst.app_account_id}; events and screens carry Forge Invocation Tokens signed with the "
            f"simulator's JWKS, Jira calls go to {stack.sim.forge.api_base_url}\n"
        )
    return (
        f"Installed through a signed install: clientKey {tenant_id[:12]}…, app user "
        f"{stack.sim.app_account_id}\n"
    )


def run_demo(
    *, forge: bool = False, keep_data: bool = False, llm: str | None = None, out: Any = None
) -> int:
    """Run the demo; returns the process exit code (0 when every request got its reply).

    ``llm`` is "offline", "fake" or "env"; None chooses from the environment (:func:`llm_mode_from_env`).
    """
    out = out or sys.stdout
    started = time.monotonic()
    llm = llm or llm_mode_from_env(Settings.child_environment())  # what the app processes will see
    stack = LocalStack(llm=llm, keep=keep_data, door="forge" if forge else "connect")
    try:
        stack.start()
        tenant_id = stack.install()
        print(f"Jira simulator at {stack.sim.base_url}; app at {stack.app_url} (gunicorn + 1 worker)",
              file=out)
        print(_llm_line(stack), file=out)
        print(_install_line(stack, tenant_id), file=out)
        keys = seed(stack.sim)
        failures = 0
        sources: dict[str, int] = {}
        for number, req in enumerate(requests_for(keys), 1):
            t0 = time.monotonic()
            before = _status(stack.sim, req.issue)
            comment = stack.sim.add_comment(req.issue, req.author, req.text)
            try:
                reply = _reply_to(stack.sim, req.issue, comment["id"], timeout=30)
            except TimeoutError:
                failures += 1
                print(f"[{number}] {req.issue} {req.text!r}: NO REPLY within 30 s", file=out)
                continue
            marker = reply["properties"]["jira-ai-reply"]
            took = time.monotonic() - t0
            who = "Dana" if req.author == DANA else "Sam"
            print(f"[{number}] {req.issue} · {who}: {req.text}", file=out)
            source = _reply_source(marker)
            sources[source] = sources.get(source, 0) + 1
            print(
                f"    intent {marker.get('intent')} (expected {req.expect}) · replied in {took:.1f} s"
                f" · {source}",
                file=out,
            )
            after = _status(stack.sim, req.issue)
            change = f"transition: {before} → {after}" if after != before else f"no transition ({after})"
            print(f"    {change}", file=out)
            print(textwrap.indent(reply["text"].strip(), "    │ ", lambda _line: True), file=out)
            print(file=out)
        for key in keys.values():
            issue = stack.sim.issue(key)
            print(f"{key}: status {issue['fields']['status']['name']}", file=out)
        summary = ", ".join(f"{count} {source}" for source, count in sorted(sources.items()))
        print(f"Replies: {summary or 'none'}", file=out)
        print(
            f"\nDone in {time.monotonic() - started:.1f} s; {failures} request(s) without a reply.", file=out
        )
        return 1 if failures else 0
    except Exception as exc:
        print(f"demo failed: {exc}\n{stack.logs()}", file=out)
        return 1
    finally:
        stack.stop()
