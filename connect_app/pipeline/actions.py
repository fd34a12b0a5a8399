"""Task completion: the one intent that changes Jira beyond posting a reply.

Only the request's own words, from a user Jira says may transition the issue, can move it. The
issue's content never triggers an action (it is not even read when deciding).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import JiraError
from ..jira.adf import adf_to_text
from ..models import Draft, Intent
from .events import adf_mentions, extract_request
from .generators.base import GenerationRequest
from .generators.task_note import completion_note
from .messages import text
from .run import RunContext

PREFERRED_NAMES = (
    "done",
    "resolve",
    "resolve issue",
    "close",
    "close issue",
    "complete",
    "closed",
    "resolved",
)


def pick_done_transition(transitions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The transition into a done-category status, preferring the usual names."""
    done = [
        t
        for t in transitions
        if isinstance(t, dict) and ((t.get("to") or {}).get("statusCategory") or {}).get("key") == "done"
    ]
    if not done:
        return None
    done.sort(key=lambda t: (str(t.get("name", "")).lower() not in PREFERRED_NAMES, str(t.get("name", ""))))
    return done[0]


# Wiki markup a Connect webhook body carries but Jira's ADF copy shows differently: mentions, macros
# such as {code}, and link targets ([label|url]).
_WIKI_NOISE = re.compile(r"\[~[^\]\n]*\]|\{[a-z]+(?::[^}\n]*)?\}|\|[^\]\n]*\]")
_WORD = re.compile(r"[^\W\d_]{2,}")


def request_words(text: str) -> set[str]:
    """The words of a request (letters only, lower case), wiki markup left out."""
    return {w.lower() for w in _WORD.findall(_WIKI_NOISE.sub(" ", text or ""))}


def request_confirmed(run: RunContext) -> bool:
    """True when Jira's own copy of the request comment backs the event before anything is changed.

    A Connect webhook's token does not cover its body (the ``qsh`` hashes the method, path and query
    only), so the comment is read back from Jira: it must exist, be written by the requester, still be
    addressed to the assistant, and contain every word of the request.
    """
    event = run.event
    if not event.comment_id or run.jira is None:
        return False
    try:
        comment = run.jira.get_comment(event.issue_key, event.comment_id, expand_properties=False)
    except JiraError as exc:
        if exc.status == 404:
            return False
        raise
    author = comment.get("author") if isinstance(comment.get("author"), dict) else {}
    if author.get("accountId") != event.author_account_id:
        return False
    body = comment.get("body")
    text = body if isinstance(body, str) else adf_to_text(body)
    request = extract_request(text, trigger=run.settings.ai_trigger, app_account_id=run.tenant.app_account_id,
                              mentioned=adf_mentions(body))
    return request is not None and request_words(event.text) <= request_words(request)


def _reply(reason: str, language: str, **values: str) -> Draft:
    """The reply to a completion that changed nothing, in the request's language (``action.<reason>``)."""
    markdown = text(f"action.{reason}", language, **values)
    return Draft(intent=Intent.TASK_COMPLETION, markdown=markdown, data={"action_result": reason})


def complete_task(run: RunContext, request: GenerationRequest) -> Draft:
    """Check permission, move the issue to done, and write the completion note."""
    ctx = run.context
    if run.draft_only:
        note = completion_note(
            request, run.gateway, transition_name="Done", from_status=ctx.status or "?", to_status="Done"
        )
        note.data["action_result"] = "not_performed_draft_only"
        return note
    jira = run.jira
    assert jira is not None
    if ctx.status_category == "done" and not run.step_value("transitioned"):
        return _reply("already_done", request.language, key=ctx.key, status=ctx.status)
    if not run.event.author_account_id:
        return _reply("no_requester", request.language)
    if not run.step_value("transitioned") and not request_confirmed(run):
        run.log.warning("task completion refused: the request could not be confirmed with Jira")
        return _reply("request_unconfirmed", request.language)
    allowed = jira.user_has_permissions(
        run.event.author_account_id,
        issue_id=ctx.issue_id or None,
        project_permissions=["TRANSITION_ISSUES"],
    ).get("TRANSITION_ISSUES", False)
    if not allowed:
        run.log.info("task completion refused: requester lacks TRANSITION_ISSUES")
        return _reply("permission_denied", request.language, key=ctx.key)
    done_to = run.step_value("transitioned")
    from_status = ctx.status
    if done_to is None:
        transition = pick_done_transition(jira.get_transitions(ctx.key))
        if transition is None:
            return _reply("no_done_transition", request.language, status=ctx.status)
        jira.do_transition(ctx.key, str(transition["id"]))
        done_to = str((transition.get("to") or {}).get("name") or transition.get("name") or "Done")
        run.step_done("transitioned", done_to)
        run.step_done("from_status", from_status)
        run.log.info("transitioned %s from %s to %s", ctx.key, from_status, done_to)
    else:
        from_status = run.step_value("from_status") or from_status
    note = completion_note(
        request, run.gateway, transition_name=done_to, from_status=from_status, to_status=done_to
    )
    note.actions.append(f"transitioned:{done_to}")
    note.data["action_result"] = "transitioned"
    note.data["transitioned_to"] = done_to
    return note
