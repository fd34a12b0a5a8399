import pytest

from connect_app.errors import BadRequestError
from connect_app.pipeline.events import (
    Drop,
    dedupe_key,
    extract_request,
    parse_comment_event,
    parse_issue_updated,
)

APP = "557058:app-0000"


def payload(body, *, author=None, key="SUP-7"):
    return {
        "timestamp": 1, "webhookEvent": "comment_created",
        "comment": {"id": "10042", "body": body,
                    "author": author or {"accountId": "u-1", "displayName": "Dana", "accountType": "atlassian"}},
        "issue": {"id": "10007", "key": key, "fields": {"project": {"key": "SUP"}}},
    }


@pytest.mark.parametrize(("text", "expected"), [
    ("@ai summarize this", "summarize this"),
    ("@AI: draft an email", "draft an email"),
    ("Thanks all.\n@ai write a status update\nfor the customer", "write a status update\nfor the customer"),
    ("  > @ai help", "help"),
    ("*@ai* close it", "close it"),
    ("@ai", ""),
    ("mail @ai about it", None),
    ("@aiden please look", None),
    ("no trigger here", None),
])
def test_trigger_at_line_start(text, expected):
    assert extract_request(text) == expected


def test_mention_of_the_app_user_is_a_trigger():
    assert extract_request(f"[~accountid:{APP}] summarize please", app_account_id=APP) == "summarize please"
    assert extract_request("[~accountid:someone-else] summarize", app_account_id=APP) is None
    assert extract_request("hey summarize", app_account_id=APP, mentioned={APP}) == "hey summarize"


def test_parses_a_connect_comment_event():
    event = parse_comment_event(payload("@ai summarize this"), tenant_id="ck", door="connect", delivery_id="d1",
                                app_account_id=APP)
    assert not isinstance(event, Drop)
    assert (event.issue_key, event.comment_id, event.text, event.project_key) == ("SUP-7", "10042",
                                                                                   "summarize this", "SUP")
    assert event.author_account_id == "u-1"
    assert dedupe_key(event) == "ck:comment:10042"


def test_parses_an_adf_body_with_a_mention():
    body = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "mention", "attrs": {"id": APP, "text": "@Jira AI"}}, {"type": "text", "text": " summarize"}]}]}
    event = parse_comment_event(payload(body), tenant_id="ck", door="forge", delivery_id="d", app_account_id=APP)
    assert not isinstance(event, Drop)
    assert "summarize" in event.text


@pytest.mark.parametrize("author", [
    {"accountId": APP, "displayName": "Jira AI", "accountType": "app"},
    {"accountId": "other-app", "accountType": "app"},
    {"accountId": APP},
])
def test_drops_comments_written_by_apps(author):
    result = parse_comment_event(payload("@ai summarize", author=author), tenant_id="ck", door="connect",
                                 delivery_id="d", app_account_id=APP)
    assert result == Drop("self_authored")


def test_drops_comments_without_trigger():
    assert parse_comment_event(payload("just a note"), tenant_id="ck", door="connect", delivery_id="d",
                               app_account_id=APP) == Drop("no_trigger")


@pytest.mark.parametrize("bad", [
    [], "x", {"comment": "nope", "issue": {}}, {"comment": {"id": "1"}, "issue": {"key": "bad key"}},
    {"comment": {"id": "1", "author": "x"}, "issue": {"key": "A-1"}}, {"issue": {"key": "A-1"}},
])
def test_malformed_payloads_are_bad_requests(bad):
    with pytest.raises(BadRequestError):
        parse_comment_event(bad, tenant_id="ck", door="connect", delivery_id="d", app_account_id=APP)


def test_issue_updated_into_done():
    body = {"webhookEvent": "jira:issue_updated", "user": {"accountId": "u-2"},
            "issue": {"id": "1", "key": "SUP-1", "fields": {"status": {"name": "Done",
                                                                       "statusCategory": {"key": "done"}}}},
            "changelog": {"id": "555", "items": [{"field": "status", "fromString": "To Do", "toString": "Done"}]}}
    event = parse_issue_updated(body, tenant_id="ck", door="connect", delivery_id="d", app_account_id=APP)
    assert not isinstance(event, Drop) and event.kind == "issue_done"
    assert dedupe_key(event) == "ck:issue_done:1:555"
    body["changelog"]["items"] = [{"field": "summary"}]
    assert parse_issue_updated(body, tenant_id="ck", door="connect", delivery_id="d",
                               app_account_id=APP) == Drop("no_status_change")
