# ruff: noqa: E501 - one text per line reads better than wrapped fragments
"""English fixed texts (the reference: every key exists here, and these are the texts used when a
language lacks a key). Placeholders are ``str.format`` fields; issue data fills them as written.
"""

from __future__ import annotations

TEXTS: dict[str, str] = {
    # labels and notes of offline drafts
    "offline.label": "_Offline draft — generated from the issue's data without an AI model._",
    "offline.label_merged": "_{note}. It was written from the issue's data by templates, not by an AI model._",
    "fallback.no_model": "Offline draft: no AI model is configured.",
    "fallback.budget_exceeded": "Offline draft: this site's daily AI budget is used up.",
    "fallback.circuit_open": "Offline draft: the AI service is unavailable right now.",
    "fallback.llm_error": "Offline draft: the AI service could not answer this time.",
    "fallback.reply_rejected": "Offline draft: the AI's reply did not pass the assistant's checks.",
    # task completion that changed nothing
    "action.already_done": "{key} is already in **{status}**, so there was nothing to change.",
    "action.no_requester": "I could not tell who asked, so I changed nothing.",
    "action.request_unconfirmed": (
        "I couldn't confirm this request with Jira (the comment was changed or removed), so I changed "
        "nothing. Ask again in a new comment if it is still needed."
    ),
    "action.permission_denied": (
        "I can't mark {key} as done for you: your Jira permissions don't allow transitioning this issue. "
        "Nothing was changed. Someone with the *Transition issues* permission can do it."
    ),
    "action.no_done_transition": (
        "I couldn't find a transition from **{status}** to a done status in this issue's workflow, so "
        "nothing was changed."
    ),
    # the polite failure note
    "failure.note": (
        "Sorry, I couldn't complete your request ({why}). Nothing was changed. Please try again in a few "
        "minutes; if it keeps failing, let your Jira admin know (reference: {code})."
    ),
    "failure.llm_error": "the AI service did not answer",
    "failure.jira_error": "Jira did not accept my reply",
    "failure.jira_unavailable": "Jira could not be reached",
    "failure.jira_rate_limited": "Jira asked me to slow down",
    "failure.reply_invalid": "the reply I wrote did not pass my quality checks",
    "failure.storage_error": "my storage was unavailable",
    "failure.circuit_open": "a service I depend on is recovering from an outage",
    "failure.jira_forbidden": "Jira did not allow the app to do this",
    "failure.unknown": "something went wrong",
    # rate limits
    "rate.user": (
        "You've asked me for a lot {window}, so I'm pausing for you. I'll take new requests again in "
        "about {wait}; please ask again then. Nothing was changed."
    ),
    "rate.site": (
        "People on this site have asked me for a lot {window}, so I'm pausing for this site. I'll take new "
        "requests again in about {wait}; please ask again then. Nothing was changed."
    ),
    "window.minute": "in the last minute",
    "window.hour": "in the last hour",
    "window.seconds": "in the last {n} seconds",
    "wait.second": "1 second",
    "wait.seconds": "{n} seconds",
    "wait.minutes": "{n} minutes",
    # help and clarify
    "help.intro": "**Here is what I can do.** Write `{trigger}` followed by your request in a comment:",
    "help.or": " or ",
    "help.refine": "Refine my last reply",
    "help.transition_note": (
        "Completing a task moves the issue to its done status only when your permissions and the workflow "
        "allow it."
    ),
    "help.tone_note": (
        "Ask for a tone with words like *formal*, *friendly*, *brief* or *apologize*. "
        "I reply in the language you write in."
    ),
    "cap.summary_request": "Summarize the issue",
    "cap.email_request": "Draft an email",
    "cap.comment_request": "Write a comment",
    "cap.task_completion": "Complete the task",
    "example.summary_request": "summarize this",
    "example.email_request": "draft an email to the customer about the delay",
    "example.comment_request": "write a status update for the team",
    "example.task_completion": "mark this done and note what was fixed",
    "example2.summary_request": "what's the status?",
    "example2.comment_request": "reply to the reporter's question",
    "example.shorter": "make it shorter",
    "example.formal": "more formal",
    "do.summary_request": "summarize the issue",
    "do.email_request": "draft an email",
    "do.comment_request": "write a comment",
    "do.task_completion": "complete or close the issue",
    "clarify.unsure_echo": "I'm not sure what you'd like me to do with \u201c{echo}\u201d.",
    "clarify.unsure": "I'm not sure what you'd like me to do.",
    "clarify.negated": "I understood that you do not want me to {action}, so I have not done that.",
    "clarify.maybe": "It sounds like you might want me to {action}.",
    "clarify.i_can": "I can:",
    "clarify.item": "- {label}, for example {example}",
    "clarify.which": "Which would you like?",
    # offline drafts: fields
    "field.status": "Status",
    "field.assignee": "Assignee",
    "field.unassigned": "Unassigned",
    "field.priority": "Priority",
    "field.due_date": "Due date",
    "field.not_set": "not set",
    "field.not_recorded": "not recorded",
    "field.reporter": "Reporter",
    "field.labels": "Labels",
    "someone": "someone",
    "someone_start": "Someone",
    # offline summary
    "summary.title": "**Summary of {title}**",
    "summary.current_state": "**Current state**",
    "summary.background": "**Background**",
    "summary.no_description": "No description has been written yet.",
    "summary.recent": "**Recent activity**",
    "summary.no_comments": "- No comments yet.",
    "summary.decisions": "**Decisions**",
    "summary.no_decisions": "- None recorded in the comments.",
    "summary.questions": "**Open questions**",
    "summary.no_questions": "- None found in the comments.",
    # offline comment
    "comment.cant_rewrite": (
        "I can't rewrite the previous reply without an AI model; here is a fresh status update from the "
        "issue's data."
    ),
    "comment.cant_tailor": (
        "I can't write a tailored reply without an AI model, so here is the current state recorded on the "
        "issue."
    ),
    "comment.title": "**Status update on {title}**",
    "comment.latest": "- Latest update ({who}{when}): {text}",
    "comment.questions": "Open questions:",
    "next.done": "Next step: none recorded; the issue is resolved.",
    "next.in_progress": "Next step: work is in progress; no further steps are recorded on the issue.",
    "next.todo": "Next step: the work has not started yet.",
    "next.unknown": "Next step: not recorded on the issue.",
    # offline email
    "email.subject_purpose": "Update on {purpose}: {subject}",
    "email.subject": "Update: {subject}",
    "email.dear_name": "Dear {name},",
    "email.hi_name": "Hi {name},",
    "greet.customer.formal": "Dear customer,",
    "greet.customer.casual": "Hi there,",
    "greet.vendor.formal": "Hello,",
    "greet.vendor.casual": "Hi,",
    "greet.stakeholders.formal": "Dear stakeholders,",
    "greet.stakeholders.casual": "Hi all,",
    "greet.team.formal": "Hello team,",
    "greet.team.casual": "Hi team,",
    "greet.other.formal": "Hello,",
    "greet.other.casual": "Hi,",
    "email.open.apologetic": (
        "I'm sorry for the inconvenience around {about}, and thank you for your patience. Here is where "
        "things stand."
    ),
    "email.open.friendly": "Here's a quick update on {about}.",
    "email.open.concise": "Update on {about}:",
    "email.open.formal": "I am writing with an update on {about}.",
    "email.status": "Current status: {status}.",
    "email.assigned": "{name} is assigned to it.",
    "email.due": "The due date is {date}.",
    "email.latest": "Latest update: {text}",
    "email.next.done": "The issue is resolved. Please let us know if anything still does not work as expected.",
    "email.next.in_progress": "Work is in progress, and we will follow up with further updates.",
    "email.next.todo": "The work has not started yet; we will follow up once it does.",
    "email.next.unknown": "We will follow up with further updates.",
    "signoff.friendly": "Best,",
    "signoff.concise": "Regards,",
    "signoff.apologetic": "With apologies and kind regards,",
    "signoff.formal": "Kind regards,",
    # offline completion note
    "note.title": "**Completion note**",
    "note.status_change": "- Status: {from_status} \u2192 {to_status}",
    "note.via": " (via \u201c{name}\u201d)",
    "note.status": "- Status: {status}",
    "note.what": "- What was done: {words}",
    "note.from": "- From {author}: {text}",
    "note.a_comment": "a comment",
    "note.no_details": "- No details of the work were recorded in the request or the recent comments.",
}
