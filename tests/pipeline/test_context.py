"""build_context and context_from_dict on payloads shaped like Jira REST v3 answers."""

from __future__ import annotations

import copy
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from requests.auth import AuthBase

from connect_app.errors import BadRequestError, JiraError
from connect_app.jira.client import JiraClient
from connect_app.pipeline.context import REPLY_PROPERTY_KEY, build_context, context_from_dict, is_app_comment

BASE = "https://acme.atlassian.net"
API = f"{BASE}/rest/api/3"
APP_ID = "557058:app-bot-0001"
MIA = {
    "accountId": "5b10a2844c20165700ede21g",
    "accountType": "atlassian",
    "active": True,
    "displayName": "Mia Krystof",
    "self": f"{API}/user?accountId=5b10a2844c20165700ede21g",
}
RAJ = {"accountId": "712020:raj", "accountType": "atlassian", "active": True, "displayName": "Raj Patel"}
APP = {"accountId": APP_ID, "accountType": "app", "active": True, "displayName": "Jira AI Assistant"}


def _para(*inline):
    return {"type": "paragraph", "content": list(inline)}


def _text(value, *marks):
    node = {"type": "text", "text": value}
    if marks:
        node["marks"] = [{"type": m} for m in marks]
    return node


def _doc(*blocks):
    return {"type": "doc", "version": 1, "content": list(blocks)}


DESCRIPTION = _doc(
    _para(
        _text("Checkout fails for "),
        _text("EU customers", "strong"),
        _text(" since the release. cc "),
        {"type": "mention", "attrs": {"id": MIA["accountId"], "text": "@Mia Krystof", "accessLevel": ""}},
    ),
    {
        "type": "bulletList",
        "content": [
            {"type": "listItem", "content": [_para(_text("Reproduce on staging"))]},
            {"type": "listItem", "content": [_para(_text("Check the VAT service"))]},
        ],
    },
    {
        "type": "codeBlock",
        "attrs": {"language": "python"},
        "content": [_text("raise VatLookupError(country)")],
    },
)

ISSUE = {
    "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
    "id": "10002",
    "key": "SHOP-42",
    "self": f"{API}/issue/10002",
    "fields": {
        "summary": "Checkout broken for EU customers",
        "description": DESCRIPTION,
        "status": {
            "id": "3",
            "name": "In Progress",
            "statusCategory": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
        },
        "assignee": None,
        "reporter": RAJ,
        "duedate": None,
        "priority": {"id": "2", "name": "High"},
        "issuetype": {"id": "10001", "name": "Bug", "subtask": False},
        "labels": ["checkout", "eu"],
        "project": {"id": "10000", "key": "SHOP", "name": "Shop", "projectTypeKey": "software"},
    },
}


def _comment(cid, author, body, created, properties=None):
    comment = {
        "id": cid,
        "self": f"{API}/issue/10002/comment/{cid}",
        "author": author,
        "updateAuthor": author,
        "body": body,
        "created": created,
        "updated": created,
        "jsdPublic": True,
    }
    if properties is not None:
        comment["properties"] = properties
    return comment


# Newest first, as Jira answers orderBy=-created.
COMMENTS_NEWEST_FIRST = [
    _comment("10107", MIA, _doc(_para(_text("@ai summarize this"))), "2024-05-03T09:00:00.000+0000"),
    _comment(
        "10106",
        {**MIA, "accountId": "someone-else-bot", "accountType": "atlassian", "displayName": "Old bot"},
        _doc(_para(_text("Earlier reply"))),
        "2024-05-02T10:00:00.000+0000",
        properties=[{"key": REPLY_PROPERTY_KEY, "value": {"request": "comment:10101", "intent": "summary_request"}}],
    ),
    _comment("10105", APP, _doc(_para(_text("Here is a summary."))), "2024-05-02T09:00:00.000+0000"),
    _comment("10104", RAJ, _doc(_para(_text("VAT service returns 500 for DE."))), "2024-05-01T12:00:00.000+0000"),
    _comment("10103", MIA, _doc(_para(_text("I can reproduce it."))), "2024-05-01T11:00:00.000+0000"),
    _comment("10102", RAJ, _doc(_para(_text("Started after 2.3.0."))), "2024-05-01T10:00:00.000+0000"),
]


class HeaderAuth(AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = "JWT test"
        return request


@pytest.fixture
def jira() -> JiraClient:
    return JiraClient(BASE, HeaderAuth(), max_retries=0)


@pytest.fixture
def mocked():
    with responses.RequestsMock() as rsps:
        yield rsps


def _page(comments, max_results):
    return {"comments": comments[:max_results], "startAt": 0, "maxResults": max_results, "total": len(comments)}


def _serve(mocked, issue=ISSUE, comments=COMMENTS_NEWEST_FIRST):
    mocked.get(f"{API}/issue/{issue['key']}", json=issue)

    def page(request):
        wanted = int(parse_qs(urlsplit(request.url).query)["maxResults"][0])
        return 200, {}, json.dumps(_page(comments, wanted))

    mocked.add_callback(responses.GET, f"{API}/issue/{issue['key']}/comment", callback=page)


def test_build_context_reads_issue_fields(jira, mocked):
    _serve(mocked)
    ctx = build_context(
        jira, issue_key="SHOP-42", requester_account_id=MIA["accountId"], requester_name="Mia Krystof",
        app_account_id=APP_ID, exclude_comment_id="10107",
    )
    assert ctx.key == "SHOP-42" and ctx.issue_id == "10002"
    assert ctx.summary == "Checkout broken for EU customers"
    assert (ctx.status, ctx.status_category) == ("In Progress", "indeterminate")
    assert ctx.assignee == ""  # unassigned
    assert ctx.reporter == "Raj Patel"
    assert ctx.due_date == ""
    assert (ctx.priority, ctx.issue_type, ctx.project_key) == ("High", "Bug", "SHOP")
    assert ctx.labels == ["checkout", "eu"]
    assert (ctx.requester_account_id, ctx.requester_name) == (MIA["accountId"], "Mia Krystof")
    assert len(mocked.calls) == 2  # one call for the issue, one for the comments


def test_description_adf_becomes_text(jira, mocked):
    _serve(mocked)
    text = build_context(jira, issue_key="SHOP-42").description
    for part in ("Checkout fails for", "EU customers", "Mia Krystof", "Reproduce on staging",
                 "Check the VAT service", "raise VatLookupError(country)"):
        assert part in text
    assert text.index("Reproduce on staging") < text.index("Check the VAT service") < text.index("VatLookupError")
    assert '"type"' not in text


def test_comments_are_oldest_first_without_the_request(jira, mocked):
    _serve(mocked)
    ctx = build_context(jira, issue_key="SHOP-42", app_account_id=APP_ID, exclude_comment_id="10107", max_comments=4)
    assert [c.id for c in ctx.comments] == ["10103", "10104", "10105", "10106"]
    assert [c.author_name for c in ctx.comments] == ["Mia Krystof", "Raj Patel", "Jira AI Assistant", "Old bot"]
    assert ctx.comments[1].text == "VAT service returns 500 for DE."
    assert ctx.comments[1].created == "2024-05-01T12:00:00.000+0000"
    query = parse_qs(urlsplit(mocked.calls[1].request.url).query)
    assert query == {"maxResults": ["5"], "orderBy": ["-created"], "expand": ["properties"]}


def test_is_ai_by_app_account_type_and_reply_property(jira, mocked):
    _serve(mocked)
    ctx = build_context(jira, issue_key="SHOP-42", app_account_id=APP_ID, exclude_comment_id="10107")
    flags = {c.id: c.is_ai for c in ctx.comments}
    assert flags == {"10102": False, "10103": False, "10104": False, "10105": True, "10106": True}
    assert ctx.last_ai_reply is not None and ctx.last_ai_reply.id == "10106"
    assert ctx.last_ai_reply.meta == {"request": "comment:10101", "intent": "summary_request"}
    assert {c.id: c.meta for c in ctx.comments if c.id != "10106"} == dict.fromkeys(["10102", "10103", "10104", "10105"])


def test_is_ai_by_app_account_id():
    bot = {**APP, "accountType": "atlassian"}
    comment = _comment("1", bot, _doc(_para(_text("x"))), "")
    assert is_app_comment(comment, app_account_id=APP_ID)
    assert not is_app_comment(comment, app_account_id=None)
    assert not is_app_comment(_comment("2", RAJ, _doc(), ""), app_account_id=APP_ID)


def test_without_exclusion_the_newest_comment_is_kept(jira, mocked):
    _serve(mocked)
    ctx = build_context(jira, issue_key="SHOP-42", max_comments=2)
    assert [c.id for c in ctx.comments] == ["10106", "10107"]
    assert ctx.comments[-1].text == "@ai summarize this"


def test_zero_comments_makes_one_call(jira, mocked):
    mocked.get(f"{API}/issue/SHOP-42", json=ISSUE)
    assert build_context(jira, issue_key="SHOP-42", max_comments=0).comments == []
    assert len(mocked.calls) == 1


def test_sparse_issue_and_plain_text_bodies(jira, mocked):
    issue = {"id": "7", "key": "OPS-7", "fields": {"summary": "Rotate keys", "description": None, "status": None}}
    comments = [{"id": "1", "author": None, "body": "legacy wiki text", "created": "2024-01-01T00:00:00.000+0000"}]
    _serve(mocked, issue=issue, comments=comments)
    ctx = build_context(jira, issue_key="OPS-7")
    assert (ctx.description, ctx.status, ctx.labels, ctx.project_key) == ("", "", [], "OPS")
    assert ctx.comments[0].author_name == "Unknown user"
    assert ctx.comments[0].text == "legacy wiki text"


def test_jira_errors_propagate(jira, mocked):
    mocked.get(f"{API}/issue/NOPE-1", status=404, json={"errorMessages": ["Issue does not exist"]})
    with pytest.raises(JiraError) as info:
        build_context(jira, issue_key="NOPE-1")
    assert info.value.code == "jira_not_found"


@pytest.mark.parametrize("kwargs", [{"issue_key": ""}, {"issue_key": "A-1", "max_comments": -1}])
def test_build_context_rejects_bad_arguments(jira, kwargs):
    with pytest.raises(BadRequestError):
        build_context(jira, **kwargs)


def test_context_from_rest_dict_matches_build_context():
    ctx = context_from_dict(copy.deepcopy(ISSUE))
    assert (ctx.key, ctx.issue_id, ctx.status_category, ctx.reporter) == ("SHOP-42", "10002", "indeterminate", "Raj Patel")
    assert "Check the VAT service" in ctx.description
    assert ctx.comments == []


def test_context_from_rest_dict_reads_embedded_comments():
    issue = copy.deepcopy(ISSUE)
    issue["fields"]["comment"] = _page(list(reversed(COMMENTS_NEWEST_FIRST[1:3])), 50)
    ctx = context_from_dict(issue)
    assert [(c.id, c.is_ai) for c in ctx.comments] == [("10105", True), ("10106", True)]


def test_context_from_flat_dict():
    ctx = context_from_dict(
        {
            "key": "SHOP-42",
            "summary": "Checkout broken",
            "description": "Plain **text** description",
            "status": "To Do",
            "status_category": "new",
            "assignee": "Mia Krystof",
            "reporter": {"displayName": "Raj Patel"},
            "due_date": "2024-06-01",
            "priority": "Highest",
            "issue_type": "Bug",
            "labels": ["eu"],
            "comments": [
                {"id": "1", "author": "Raj Patel", "text": "Seen on DE"},
                {"id": "2", "author": "Jira AI Assistant", "text": "Summary...", "is_ai": True, "meta": {"intent": "summary_request"}},
                {"id": "3", "author": MIA, "body": _doc(_para(_text("ADF works too")))},
            ],
        }
    )
    assert (ctx.status, ctx.status_category, ctx.assignee, ctx.reporter) == ("To Do", "new", "Mia Krystof", "Raj Patel")
    assert (ctx.due_date, ctx.priority, ctx.issue_type, ctx.project_key) == ("2024-06-01", "Highest", "Bug", "SHOP")
    assert ctx.description == "Plain **text** description"
    assert [(c.author_name, c.text, c.is_ai) for c in ctx.comments] == [
        ("Raj Patel", "Seen on DE", False),
        ("Jira AI Assistant", "Summary...", True),
        ("Mia Krystof", "ADF works too", False),
    ]
    assert ctx.last_ai_reply.meta == {"intent": "summary_request"}


def test_context_from_flat_dict_with_adf_description():
    ctx = context_from_dict({"key": "SHOP-1", "description": DESCRIPTION, "status": ISSUE["fields"]["status"]})
    assert "raise VatLookupError(country)" in ctx.description
    assert (ctx.status, ctx.status_category) == ("In Progress", "indeterminate")


@pytest.mark.parametrize("issue", [{}, {"key": ""}, {"summary": "no key"}, ["SHOP-1"], None])
def test_context_from_dict_needs_a_key(issue):
    with pytest.raises(BadRequestError):
        context_from_dict(issue)


def test_content_hash_changes_with_comments(jira, mocked):
    _serve(mocked)
    first = build_context(jira, issue_key="SHOP-42", max_comments=2)
    second = copy.deepcopy(first)
    second.comments = second.comments[:1]
    assert first.content_hash() != second.content_hash()
