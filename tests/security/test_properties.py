"""Property-based tests (hypothesis) of the parsers an attacker reaches first, and of what we post back.

* the Connect canonicaliser: ``canonical_request``/``query_string_hash`` never raise, ignore parameter
  order and the ``jwt`` parameter, read every percent-encoding of the same text alike, keep the path
  from imitating the query, and what ``sign_request`` signs ``verify_hs256`` accepts for any URL;
* the webhook parser: on any JSON value ``parse_comment_event``/``parse_issue_updated`` return an
  AiEvent or a Drop or raise BadRequestError, nothing else, and an AiEvent is well-formed;
* the reply path (Markdown -> validated ADF): for any text, including trigger look-alikes, mentions and
  invisible characters, the posted document is valid ADF that mentions no one and cannot trigger the
  app. The converter's own properties (valid ADF, no visible word lost) are in
  ``tests/jira/test_adf_properties.py``; its generator is reused here.
"""

from __future__ import annotations

import hashlib
import re
import string
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect_app.errors import BadRequestError, ValidationFailedError
from connect_app.jira.adf import adf_to_text, validate_adf
from connect_app.models import AiEvent, Draft, Intent
from connect_app.pipeline.events import (
    INVISIBLE_CHARS,
    MAX_REQUEST_CHARS,
    Drop,
    extract_request,
    parse_comment_event,
    parse_issue_updated,
)
from connect_app.pipeline.validate import validate_reply
from connect_app.platform.connect.jwt import (
    canonical_request,
    query_string_hash,
    sign_request,
    verify_hs256,
)
from tests.jira.test_adf_properties import markdownish

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECRET = "property-test-shared-secret-0123456789abcdef"
INVISIBLE = re.compile(f"[{INVISIBLE_CHARS}]")

# Text without lone surrogates (they cannot be UTF-8 encoded; the canonicaliser maps them to '?').
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
KEY = TEXT.filter(lambda k: k != "jwt" and k != "")
PARAMS = st.lists(st.tuples(KEY, TEXT), max_size=6)
PATH = st.lists(st.text(string.ascii_letters + string.digits + "-._~%&", min_size=1, max_size=8), max_size=4).map(
    lambda parts: "/" + "/".join(parts))


def query(pairs: list[tuple[str, str]], *, plus: bool = False) -> str:
    encode = quote_plus if plus else (lambda s: quote(s, safe=""))
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs)


def canonical_query(url: str) -> str:
    return canonical_request("GET", url).split("&", 2)[2]


# ---------------------------------------------------------------------- the canonicaliser
@FAST
@given(st.text(max_size=60), st.text(max_size=200), st.text(max_size=60))
def test_the_canonicaliser_never_raises_on_any_text(method, url, base_url):
    canonical = canonical_request(method, url, base_url)
    assert isinstance(canonical, str) and canonical.count("&") >= 2
    digest = query_string_hash(method, url, base_url)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@FAST
@given(PATH, PARAMS, st.randoms(use_true_random=False))
def test_query_parameter_order_does_not_matter(path, pairs, rnd):
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    assert query_string_hash("GET", f"{path}?{query(pairs)}") == query_string_hash("GET", f"{path}?{query(shuffled)}")


@FAST
@given(PATH, PARAMS, TEXT, st.integers(min_value=0, max_value=6))
def test_the_jwt_parameter_is_ignored_wherever_it_is(path, pairs, token, position):
    with_jwt = [*pairs[:position], ("jwt", token), *pairs[position:]]
    assert canonical_request("POST", f"{path}?{query(with_jwt)}") == canonical_request("POST", f"{path}?{query(pairs)}")


@FAST
@given(PATH, PARAMS)
def test_every_encoding_of_the_same_parameters_canonicalises_alike(path, pairs):
    strict = canonical_request("GET", f"{path}?{query(pairs)}")
    assert canonical_request("GET", f"{path}?{query(pairs, plus=True)}") == strict  # '+' for spaces
    lenient = "&".join(f"{quote(k, safe='@!*()')}={quote(v, safe='@!*()')}" for k, v in pairs)
    assert canonical_request("GET", f"{path}?{lenient}") == strict  # fewer characters escaped


@FAST
@given(PATH, st.dictionaries(KEY, TEXT, max_size=6))
def test_the_canonical_query_decodes_back_to_the_parameters(path, params):
    canonical = canonical_query(f"{path}?{query(list(params.items()))}")
    decoded = dict(parse_qsl(canonical, keep_blank_values=True)) if canonical else {}
    assert decoded == params
    assert re.fullmatch(r"[A-Za-z0-9\-._~%=&,]*", canonical)  # RFC 3986 unreserved, escapes, separators only


@FAST
@given(PATH, PARAMS)
def test_a_path_cannot_imitate_query_parameters(path, pairs):
    method, canonical_path, _query = canonical_request("GET", f"{path}?{query(pairs)}").split("&", 2)
    assert method == "GET" and "&" not in canonical_path and canonical_path.startswith("/")


@FAST
@given(st.sampled_from(["GET", "POST", "PUT", "DELETE"]), PATH, PARAMS)
def test_what_we_sign_for_a_request_verifies_for_that_request(method, path, pairs):
    url = f"https://acme.atlassian.net{path}?{query(pairs)}"
    token = sign_request(method, url, issuer="ck-acme", secret=SECRET, base_url="https://acme.atlassian.net")
    claims = verify_hs256(token, lookup_secret=lambda iss: SECRET if iss == "ck-acme" else None, method=method,
                          url=f"{path}?{query(pairs)}", base_url="https://acme.atlassian.net")
    assert claims["iss"] == "ck-acme"


# ---------------------------------------------------------------------- the webhook parser
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)
AUTHOR = st.one_of(JSON, st.fixed_dictionaries({}, optional={
    "accountId": st.one_of(st.text(max_size=30), JSON), "displayName": st.one_of(st.text(max_size=30), JSON),
    "accountType": st.sampled_from(["atlassian", "app", "customer"])}))
BODY = st.one_of(
    JSON,
    st.text(max_size=80).map(lambda t: "@ai " + t),
    st.builds(lambda pre, t: f"{pre}@ai {t}", st.sampled_from(["", "\u200b", "\u202e", "> ", "* ", "\x00"]), st.text()),
    st.builds(lambda t: {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": t}]}]}, st.text(max_size=80)),
)
NEAR_VALID = st.fixed_dictionaries({}, optional={
    "comment": st.one_of(JSON, st.fixed_dictionaries({}, optional={
        "id": st.one_of(st.text(max_size=20), st.integers(), JSON), "body": BODY, "author": AUTHOR})),
    "issue": st.one_of(JSON, st.fixed_dictionaries({}, optional={
        "id": st.one_of(st.text(max_size=12), st.integers(), JSON),
        "key": st.one_of(st.from_regex(r"[A-Z]{1,4}-[0-9]{1,4}", fullmatch=True), st.text(max_size=12), JSON),
        "fields": JSON})),
    "changelog": JSON, "user": AUTHOR,
})


def assert_well_formed(result: AiEvent | Drop) -> None:
    assert isinstance(result, AiEvent | Drop)
    if isinstance(result, AiEvent):
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*-\d+", result.issue_key) and len(result.issue_key) <= 64
        assert isinstance(result.author_account_id, str) and isinstance(result.author_name, str)
        assert len(result.text) <= MAX_REQUEST_CHARS and not INVISIBLE.search(result.text)
        if result.kind == "comment":
            assert re.fullmatch(r"[A-Za-z0-9_\-]{1,128}", result.comment_id)


@settings(FAST, max_examples=300)
@given(st.one_of(JSON, NEAR_VALID), st.sampled_from([None, "557058:app"]))
def test_the_comment_parser_returns_an_event_or_a_drop_or_a_400(payload, app_account):
    try:
        result = parse_comment_event(payload, tenant_id="ck", door="connect", delivery_id="d",
                                     app_account_id=app_account)
    except BadRequestError:
        return
    assert_well_formed(result)


@FAST
@given(st.one_of(JSON, NEAR_VALID))
def test_the_issue_updated_parser_returns_an_event_or_a_drop_or_a_400(payload):
    try:
        result = parse_issue_updated(payload, tenant_id="ck", door="forge", delivery_id="d", app_account_id=None)
    except BadRequestError:
        return
    assert_well_formed(result)


@FAST
@given(st.text(max_size=200), st.lists(st.tuples(st.integers(min_value=0, max_value=200),
                                                 st.sampled_from(list("\u200b\u200c\u200d\u200e\u200f\u202a\u202b"
                                                                      "\u202c\u202d\u202e\u2060\u2066\u2069\ufeff\x00\x07"))),
                                       max_size=8))
def test_invisible_characters_never_change_what_is_a_request(text, insertions):
    noisy = text
    for position, char in sorted(insertions, reverse=True):
        noisy = noisy[:position] + char + noisy[position:]
    clean = INVISIBLE.sub("", text)
    assert extract_request(noisy) == extract_request(clean)


# ---------------------------------------------------------------------- what we post
HOSTILE = st.sampled_from([
    "@ai mark this done", "\\@ai close it", "**@**ai close it", "&#64;ai close it", "\u200b@ai close it",
    "@\u200bai close it", "\u00a0@ai x", "> @ai x", "- @ai x", "1. @ai x", "`@ai`", "```\n@ai x\n```",
    "[~accountid:557058:victim]", "[~dana]", "@here", "\u202eenod kram ia@", "\x00\x1b[2J", "\u2066rtl\u2069",
    "[link](javascript:alert(1))", "<script>alert(1)</script>", "![img](http://evil.example/x.png)",
])
SEPARATOR = st.sampled_from([" ", "\n", "\n\n", "\t"])


@st.composite
def hostile_markdown(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(markdownish().map(lambda case: case[0]), HOSTILE, st.text(max_size=30)),
                          max_size=8))
    return "".join(part + draw(SEPARATOR) for part in parts)


def mention_free(node: Any) -> bool:
    if isinstance(node, dict):
        return node.get("type") != "mention" and all(mention_free(c) for c in node.get("content") or [])
    return True


@settings(FAST, max_examples=100)
@given(hostile_markdown())
def test_every_posted_reply_is_valid_adf_that_mentions_no_one_and_cannot_trigger_the_app(markdown):
    try:
        reply = validate_reply(Draft(intent=Intent.COMMENT_REQUEST, markdown=markdown))
    except ValidationFailedError as exc:
        assert exc.code in {"reply_empty", "reply_placeholder", "reply_tone", "reply_adf_invalid"}
        return
    assert validate_adf(reply.adf) == []
    assert mention_free(reply.adf)
    text = adf_to_text(reply.adf)
    assert "[~" not in text
    assert extract_request(text) is None, text
    assert extract_request(reply.markdown) is None, reply.markdown


@settings(FAST, max_examples=50)
@given(markdownish())
def test_the_reply_path_keeps_every_visible_word(case):
    source, visible = case
    try:
        reply = validate_reply(Draft(intent=Intent.COMMENT_REQUEST, markdown=source))
    except ValidationFailedError as exc:
        assert exc.code == "reply_empty" and not visible
        return
    assert validate_adf(reply.adf) == []
    shown = set(re.findall(r"[A-Za-z0-9]+", adf_to_text(reply.adf)))
    missing = {w for w in visible if w not in shown and w.lower() != "ai"}
    assert not missing, (missing, source)
