"""Property tests for ADF: whatever the Markdown, the output is valid ADF and no visible word is lost.

"Visible" is defined by construction: the generator assembles Markdown from fragments that each
know which of their words a reader sees (a link's label but not its URL, a fence's code but not its
language, markup characters never). Fragments are always separated by whitespace, and the noise
characters exclude the few that can hide text by design in CommonMark ("[", "]", ":" make link
reference definitions, "&" makes entities).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from connect_app.jira import adf
from connect_app.jira.adf import adf_to_text, is_valid_adf, markdown_to_adf, plain_text_adf, validate_adf

PACKAGED_SCHEMA = Path(adf.__file__).parents[1] / "specs" / "adf-full.json"

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def words(value: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9]+", value))


def assert_no_empty_text(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "text":
            assert node.get("text"), node
        for child in node.get("content", []):
            assert_no_empty_text(child)


# --- a Markdown-ish generator that knows what is visible ------------------------------------------------

WORD = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True)
PHRASE = st.lists(WORD, min_size=1, max_size=4).map(" ".join)
NOISE = st.sampled_from(
    [
        "*",
        "**",
        "_",
        "~",
        "~~",
        "`",
        "#",
        ">",
        "-",
        "+",
        "|",
        "!",
        "\\",
        "<",
        ">",
        "=",
        "(",
        ")",
        "---",
        "1.",
        "2)",
        "\u200f",
        "\u202e",
        "\x00",
        "\x1b",
        "\x07",
        "\t",
        "    ",
        "\u00a0",
        "é",
        "🎉",
        '"',
        "'",
    ]
)
Fragment = tuple[str, str]  # (markdown, its visible text)


def _inline(phrase: str, kind: str) -> Fragment:
    wrappers = {
        "plain": phrase,
        "strong": f"**{phrase}**",
        "em": f"*{phrase}*",
        "em_": f"_{phrase}_",
        "strike": f"~~{phrase}~~",
        "both": f"***{phrase}***",
        "code": f"`{phrase}`",
        "link": f"[{phrase}](https://example.com/hidden)",
        "titled": f'[{phrase}](https://example.com/hidden "hiddentitle")',
        "image": f"![{phrase}](https://example.com/hidden.png)",
        "unsafe": f"[{phrase}](ftp://example.com/hidden)",
        "html": f"<span>{phrase}</span>",
        "comment": f"<!-- {phrase} -->",
    }
    return wrappers[kind], phrase


def _block(phrase: str, kind: str, depth: int) -> Fragment:
    if kind == "heading":
        return f"\n{'#' * (depth % 6 + 1)} {phrase}\n", phrase
    if kind == "bullets":
        return "\n" + "\n".join(f"{'  ' * level}- {phrase}" for level in range(depth)) + "\n", phrase
    if kind == "ordered":
        return "\n" + "\n".join(f"{'   ' * level}1. {phrase}" for level in range(depth)) + "\n", phrase
    if kind == "quote":
        return "\n" + "> " * depth + phrase + "\n", phrase
    if kind == "fence":
        return f"\n```python\n{phrase}\n```\n", phrase
    if kind == "indented":
        return f"\n\n    {phrase}\n\n", phrase
    if kind == "table":
        return (
            f"\n\n| h{phrase} | k |\n|---|:-:|\n| {phrase} | x | {phrase} |\n\n",
            f"h{phrase} k {phrase} x {phrase}",
        )
    if kind == "autolink":
        return f"<https://example.com/{phrase.replace(' ', '/')}>", f"https example com {phrase}"
    if kind == "bare_url":
        return f"https://example.com/{phrase.replace(' ', '-')}.", f"https example com {phrase}"
    return f"\n{phrase}\n===\n", phrase  # setext heading


INLINE_KINDS = [
    "plain",
    "strong",
    "em",
    "em_",
    "strike",
    "both",
    "code",
    "link",
    "titled",
    "image",
    "unsafe",
    "html",
    "comment",
]
BLOCK_KINDS = [
    "heading",
    "bullets",
    "ordered",
    "quote",
    "fence",
    "indented",
    "table",
    "autolink",
    "bare_url",
    "setext",
]

FRAGMENT = st.one_of(
    st.builds(_inline, PHRASE, st.sampled_from(INLINE_KINDS)),
    st.builds(_block, PHRASE, st.sampled_from(BLOCK_KINDS), st.integers(min_value=1, max_value=12)),
    NOISE.map(lambda noise: (noise, "")),
)
SEPARATOR = st.sampled_from([" ", "  ", "\n", "\n\n", " \n", "\t"])


@st.composite
def markdownish(draw: st.DrawFn) -> tuple[str, set[str]]:
    fragments = draw(st.lists(st.tuples(FRAGMENT, SEPARATOR), max_size=25))
    source = "".join(markdown + separator for (markdown, _visible), separator in fragments)
    visible = set().union(*(words(visible) for (_markdown, visible), _separator in fragments))
    return source, visible


# --- properties -----------------------------------------------------------------------------------------


@settings(FAST, max_examples=150)
@given(markdownish())
def test_markdownish_converts_to_valid_adf_without_losing_visible_words(case: tuple[str, set[str]]) -> None:
    source, visible = case
    result = markdown_to_adf(source)
    assert validate_adf(result) == []
    assert_no_empty_text(result)
    missing = visible - words(adf_to_text(result))
    assert not missing, (missing, source)


@FAST
@given(st.text(max_size=400))
def test_any_text_converts_to_valid_serialisable_adf(source: str) -> None:
    result = markdown_to_adf(source)
    assert is_valid_adf(result), validate_adf(result)
    assert_no_empty_text(result)
    json.dumps(result).encode("utf-8")
    assert isinstance(adf_to_text(result), str)


@FAST
@given(st.text(st.characters(codec="utf-8"), max_size=400))
def test_plain_text_adf_is_valid_and_keeps_every_word(source: str) -> None:
    result = plain_text_adf(source)
    assert is_valid_adf(result)
    assert_no_empty_text(result)
    lines = source.replace("\r\n", "\n").replace("\r", "\n")  # a bare CR is a line break
    cleaned = re.sub("[\x00-\x08\x0b-\x1f\x7f-\x9f]", "", lines)
    assert words(cleaned) <= words(adf_to_text(result))


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=10)
    | st.sampled_from(
        ["text", "paragraph", "mention", "bulletList", "listItem", "table", "codeBlock", "doc"]
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "content", "text", "attrs", "marks", "order"]), children, max_size=4
        )
    ),
    max_leaves=30,
)


@FAST
@given(JSONISH)
def test_adf_to_text_never_raises(node: Any) -> None:
    assert isinstance(adf_to_text(node), str)


# --- the fast validator agrees with jsonschema's stock Draft4Validator -----------------------------------

TEXT = st.fixed_dictionaries(
    {"type": st.just("text"), "text": st.sampled_from(["", "x"])},
    optional={
        "marks": st.lists(
            st.sampled_from(
                [
                    {"type": "code"},
                    {"type": "strong"},
                    {"type": "em"},
                    {"type": "link", "attrs": {"href": "https://e.test"}},
                    {"type": "link"},
                    {"type": "bogus"},
                ]
            ),
            max_size=2,
        )
    },
)
INLINE = TEXT | st.sampled_from(
    [{"type": "hardBreak"}, {"type": "mention", "attrs": {"id": "a"}}, {"type": "mention"}, {"type": "rule"}]
)


def _container(kind: str, children: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries({"type": st.just(kind), "content": st.lists(children, max_size=2)})


CONTAINERS = ("blockquote", "bulletList", "listItem", "table", "tableRow", "tableCell")
LEAF_BLOCK = st.fixed_dictionaries(
    {"type": st.just("paragraph"), "content": st.lists(INLINE, max_size=2)}
) | (st.sampled_from([{"type": "rule"}, {"type": "codeBlock", "content": [{"type": "text", "text": "c"}]}]))
# At most two container levels: the stock validator's anyOf is exponential in depth.
LEVEL_ONE = st.one_of([_container(kind, LEAF_BLOCK) for kind in CONTAINERS])
BLOCK = LEAF_BLOCK | LEVEL_ONE | st.one_of([_container(kind, LEAF_BLOCK | LEVEL_ONE) for kind in CONTAINERS])


@pytest.fixture(scope="module")
def stock_validator() -> Draft4Validator:
    return Draft4Validator(json.loads(PACKAGED_SCHEMA.read_text("utf-8")))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blocks=st.lists(BLOCK, max_size=2))
def test_fast_validator_verdict_matches_stock_validator(
    blocks: list[dict], stock_validator: Draft4Validator
) -> None:
    document = {"type": "doc", "version": 1, "content": blocks}
    verdict = stock_validator.is_valid(document)
    assert is_valid_adf(document) == verdict
    assert (validate_adf(document) == []) == verdict
