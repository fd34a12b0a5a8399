"""ADF: Markdown -> ADF (exact shapes), flattening, validation, plain-text fallback, ADF -> text, builders."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from connect_app.errors import BadRequestError
from connect_app.jira import adf
from connect_app.jira.adf import (
    adf_to_text,
    code_block,
    doc,
    ensure_valid_adf,
    hard_break,
    heading,
    is_valid_adf,
    link_mark,
    markdown_to_adf,
    mention_node,
    paragraph,
    plain_text_adf,
    text,
    validate_adf,
)
from connect_app.jira.adf_from_markdown import MAX_LIST_DEPTH
from tests.conftest import SHARED_SPECS

PACKAGED_SCHEMA = Path(adf.__file__).parents[1] / "specs" / "adf-full.json"
SHARED_SCHEMA = SHARED_SPECS / "adf" / "full.json"


# --- tiny literal helpers for the expectation table -----------------------------------------------------


def t(value: str, *marks: Any) -> dict:
    node: dict[str, Any] = {"type": "text", "text": value}
    if marks:
        node["marks"] = [{"type": mark} if isinstance(mark, str) else mark for mark in marks]
    return node


def p(*content: dict) -> dict:
    return {"type": "paragraph", "content": list(content)}


def li(*content: dict) -> dict:
    return {"type": "listItem", "content": list(content)}


def link(href: str, title: str | None = None) -> dict:
    attrs = {"href": href} | ({"title": title} if title else {})
    return {"type": "link", "attrs": attrs}


BR = {"type": "hardBreak"}


def words(value: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9]+", value))


def assert_valid(document: dict) -> None:
    assert validate_adf(document) == []
    assert_no_empty_text(document)


def assert_no_empty_text(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "text":
            assert node.get("text"), node
        for child in node.get("content", []):
            assert_no_empty_text(child)


# --- Markdown -> exact ADF ------------------------------------------------------------------------------

CASES: list[tuple[str, str, list[dict]]] = [
    ("empty", "", []),
    ("whitespace only", "  \n\t\n   ", []),
    ("paragraph", "Hello world", [p(t("Hello world"))]),
    ("two paragraphs", "one\n\ntwo", [p(t("one")), p(t("two"))]),
    ("soft break is a hard break", "a\nb", [p(t("a"), BR, t("b"))]),
    ("hard break (two spaces)", "a  \nb", [p(t("a"), BR, t("b"))]),
    ("hard break (backslash)", "a\\\nb", [p(t("a"), BR, t("b"))]),
    (
        "emphasis",
        "**b** *i* ~~s~~ ***both***",
        [
            p(
                t("b", "strong"),
                t(" "),
                t("i", "em"),
                t(" "),
                t("s", "strike"),
                t(" "),
                t("both", "strong", "em"),
            )
        ],
    ),
    ("single tilde is text", "~t~", [p(t("~t~"))]),
    ("inline code", "run `make test` now", [p(t("run "), t("make test", "code"), t(" now"))]),
    ("code drops other marks", "**`c`**", [p(t("c", "code"))]),
    ("code keeps link", "[`c`](https://x.test)", [p(t("c", "code", link("https://x.test")))]),
    (
        "link with title",
        '[docs](https://example.com/a "The docs")',
        [p(t("docs", link("https://example.com/a", "The docs")))],
    ),
    ("bold link", "[**x**](https://e.test)", [p(t("x", "strong", link("https://e.test")))]),
    ("mailto autolink", "<dev@example.com>", [p(t("dev@example.com", link("mailto:dev@example.com")))]),
    ("http autolink", "<https://e.test/x>", [p(t("https://e.test/x", link("https://e.test/x")))]),
    (
        "bare url, trailing dot outside",
        "see https://example.com/a.",
        [p(t("see "), t("https://example.com/a", link("https://example.com/a")), t("."))],
    ),
    ("ftp link becomes text", "[file](ftp://host/f)", [p(t("file"))]),
    ("relative link becomes text", "[x](/browse/ABC-1)", [p(t("x"))]),
    ("javascript link stays literal", "[x](javascript:alert(1))", [p(t("[x](javascript:alert(1))"))]),
    (
        "image becomes link",
        "![diagram](https://e.test/d.png)",
        [p(t("diagram", link("https://e.test/d.png")))],
    ),
    (
        "image without alt shows url",
        "![](https://e.test/d.png)",
        [p(t("https://e.test/d.png", link("https://e.test/d.png")))],
    ),
    ("image with data url keeps alt", "![alt](data:image/png;base64,AA)", [p(t("alt"))]),
    ("raw html is text", "<b>bold</b> <script>x()</script>", [p(t("<b>bold</b> <script>x()</script>"))]),
    ("html block is text", "<div>\nhi\n</div>", [p(t("<div>"), BR, t("hi"), BR, t("</div>"))]),
    ("entities decode", "&copy; &amp;", [p(t("© &"))]),
    ("control characters stripped", "a\x00b\x07c\x1b[0m\x7f", [p(t("abc[0m"))]),
    ("CRLF", "a\r\nb\r\n\r\nc", [p(t("a"), BR, t("b")), p(t("c"))]),
    *[
        (
            f"heading {level}",
            "#" * level + " Title",
            [{"type": "heading", "attrs": {"level": level}, "content": [t("Title")]}],
        )
        for level in range(1, 7)
    ],
    ("setext heading", "Title\n===", [{"type": "heading", "attrs": {"level": 1}, "content": [t("Title")]}]),
    ("empty heading dropped", "#\n\ntext", [p(t("text"))]),
    (
        "bullet list",
        "- a\n- b",
        [{"type": "bulletList", "content": [li(p(t("a"))), li(p(t("b")))]}],
    ),
    (
        "ordered list keeps start",
        "3. three\n4. four",
        [{"type": "orderedList", "attrs": {"order": 3}, "content": [li(p(t("three"))), li(p(t("four")))]}],
    ),
    (
        "ordered list from one",
        "1) one",
        [{"type": "orderedList", "attrs": {"order": 1}, "content": [li(p(t("one")))]}],
    ),
    (
        "nested lists",
        "- a\n  1. b\n  2. c\n- d",
        [
            {
                "type": "bulletList",
                "content": [
                    li(
                        p(t("a")),
                        {
                            "type": "orderedList",
                            "attrs": {"order": 1},
                            "content": [li(p(t("b"))), li(p(t("c")))],
                        },
                    ),
                    li(p(t("d"))),
                ],
            }
        ],
    ),
    ("empty list item", "- ", [{"type": "bulletList", "content": [li(p())]}]),
    (
        "list item starting with a list",
        "- - a",
        [{"type": "bulletList", "content": [li(p(), {"type": "bulletList", "content": [li(p(t("a")))]})]}],
    ),
    ("blockquote", "> quoted\n> text", [{"type": "blockquote", "content": [p(t("quoted"), BR, t("text"))]}]),
    (
        "fenced code with language",
        "```python\nprint(1)\n\n```",
        [{"type": "codeBlock", "attrs": {"language": "python"}, "content": [t("print(1)\n")]}],
    ),
    (
        "fenced code, info words",
        "~~~ js extra\nx\n~~~",
        [{"type": "codeBlock", "attrs": {"language": "js"}, "content": [t("x")]}],
    ),
    (
        "indented code",
        "    indented\n      more",
        [{"type": "codeBlock", "content": [t("indented\n  more")]}],
    ),
    ("empty code block", "```\n```", [{"type": "codeBlock", "content": []}]),
    (
        "code keeps markup",
        "```\n**not bold** <b>\n```",
        [{"type": "codeBlock", "content": [t("**not bold** <b>")]}],
    ),
    ("rule", "a\n\n---\n\nb", [p(t("a")), {"type": "rule"}, p(t("b"))]),
    (
        "table",
        "| Key | Status |\n|:---|:-:|\n| ABC-1 | **Done** |",
        [
            {
                "type": "table",
                "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
                "content": [
                    {
                        "type": "tableRow",
                        "content": [
                            {"type": "tableHeader", "content": [p(t("Key"))]},
                            {
                                "type": "tableHeader",
                                "content": [
                                    p(t("Status"))
                                    | {"marks": [{"type": "alignment", "attrs": {"align": "center"}}]}
                                ],
                            },
                        ],
                    },
                    {
                        "type": "tableRow",
                        "content": [
                            {"type": "tableCell", "content": [p(t("ABC-1"))]},
                            {
                                "type": "tableCell",
                                "content": [
                                    p(t("Done", "strong"))
                                    | {"marks": [{"type": "alignment", "attrs": {"align": "center"}}]}
                                ],
                            },
                        ],
                    },
                ],
            }
        ],
    ),
]


@pytest.mark.parametrize(
    ("markdown", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_markdown_to_adf_exact(markdown: str, expected: list[dict]) -> None:
    result = markdown_to_adf(markdown)
    assert result == {"type": "doc", "version": 1, "content": expected}
    assert_valid(result)


def test_table_cells_beyond_the_header_are_kept_in_the_last_cell() -> None:
    result = markdown_to_adf("| a | b |\n|---|---|\n| 1 | 2 | 3 | *4* |\n| x |")
    assert_valid(result)
    rows = result["content"][0]["content"]
    assert rows[1]["content"][1]["content"] == [p(t("2 | 3 | "), t("4", "em"))]
    assert rows[2]["content"][1]["content"] == [p()]  # short rows are padded with empty cells


def test_table_without_alignment_uses_plain_paragraphs() -> None:
    result = markdown_to_adf("| a |\n|---|\n| |")
    assert result["content"][0]["content"][1]["content"][0] == {"type": "tableCell", "content": [p()]}
    assert_valid(result)


# --- flattening what ADF does not allow -----------------------------------------------------------------


def test_nested_quotes_are_flattened() -> None:
    result = markdown_to_adf("> outer\n>\n> > inner\n> > > innermost")
    assert result["content"] == [
        {"type": "blockquote", "content": [p(t("outer")), p(t("inner")), p(t("innermost"))]}
    ]
    assert_valid(result)


def test_heading_in_quote_and_list_becomes_bold_paragraph() -> None:
    result = markdown_to_adf("> # Title *x*\n\n- ## Item")
    assert result["content"][0] == {
        "type": "blockquote",
        "content": [p(t("Title ", "strong"), t("x", "strong", "em"))],
    }
    assert result["content"][1]["content"][0] == li(p(t("Item", "strong")))
    assert_valid(result)


def test_quote_inside_list_item_is_unwrapped() -> None:
    result = markdown_to_adf("- a\n\n  > quoted\n  > > deeper")
    assert result["content"][0]["content"][0] == li(p(t("a")), p(t("quoted")), p(t("deeper")))
    assert_valid(result)


def test_rule_inside_quote_is_dropped_text_kept() -> None:
    result = markdown_to_adf("> a\n>\n> ---\n>\n> b")
    assert result["content"] == [{"type": "blockquote", "content": [p(t("a")), p(t("b"))]}]


def test_table_inside_quote_and_list_becomes_rows_of_text() -> None:
    result = markdown_to_adf("> | a | b |\n> |---|---|\n> | 1 | 2 | 3 |\n\n- | h |\n  |---|\n  | **v** |")
    assert result["content"][0] == {"type": "blockquote", "content": [p(t("a | b")), p(t("1 | 2 | 3"))]}
    assert result["content"][1]["content"][0] == li(p(t("h")), p(t("v", "strong")))
    assert_valid(result)


def _list_depth(node: Any, depth: int = 0) -> int:
    if not isinstance(node, dict):
        return depth
    here = depth + (node.get("type") in ("bulletList", "orderedList"))
    return max([here, *(_list_depth(child, here) for child in node.get("content", []))])


@pytest.mark.parametrize("marker", ["- ", "1. "])
def test_lists_deeper_than_adf_allows_are_flattened(marker: str) -> None:
    indent = " " * len(marker)
    source = "\n".join(f"{indent * level}{marker}item{level}" for level in range(12))
    result = markdown_to_adf(source)
    assert_valid(result)
    assert _list_depth(result) == MAX_LIST_DEPTH
    rendered = adf_to_text(result)
    assert all(f"item{level}" in rendered for level in range(12))
    assert f"{marker}item{MAX_LIST_DEPTH}" in json.dumps(result)  # flattened items keep their marker


@pytest.mark.parametrize(
    "source",
    [
        "> " * 60 + "deep quote",
        "\n".join("  " * level + "- level" + str(level) for level in range(40)),
        "- " * 200 + "deep list",
        ">" * 5000 + " many quotes",
        "> - " * 100 + "quote list",
    ],
    ids=["quotes", "lists", "inline-lists", "quote-chars", "quote-list"],
)
def test_pathological_nesting_keeps_every_word(source: str) -> None:
    result = markdown_to_adf(source + "\n\nafter")
    assert_valid(result)
    assert words(source + " after") <= words(adf_to_text(result))


@pytest.mark.parametrize(
    "source",
    [
        "\u200f\u05e9\u05dc\u05d5\u05dd \u202eevil\u202c **bold** \u0627\u0644\u0639\u0631\u0628\u064a\u0629",
        "emoji 🎉👍🏽 and CJK 漢字 and combining e\u0301",
        "lone surrogate \ud800 here \udfff",
        "nonchars \ufffe\uffff and C1 \x85\x9b",
        "".join(chr(code) for code in range(0x20)) + "end",
        "tab\tinside\tcode `a\tb`",
        "[" * 3000 + "brackets",
        "*a" * 3000,
        "| a |\n|---|\n" + "| x | y |\n" * 200,
    ],
)
def test_odd_input_gives_valid_adf(source: str) -> None:
    result = markdown_to_adf(source)
    assert_valid(result)
    json.dumps(result).encode("utf-8")  # serialisable for Jira: no lone surrogates left


def test_hundred_kilobyte_input_converts_to_valid_adf() -> None:
    unit = (
        "## Section\n\nSome **bold** text, `code`, a [link](https://example.com) and https://example.org.\n\n"
        "- item one\n  - nested *two*\n1. first\n\n> quoted\n\n```py\nprint('x')\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    )
    source = (unit * (100_000 // len(unit) + 1))[:100_000]
    result = markdown_to_adf(source)
    assert_valid(result)
    assert "Section" in adf_to_text(result)


def test_markdown_to_adf_rejects_non_strings() -> None:
    with pytest.raises(BadRequestError):
        markdown_to_adf(None)  # type: ignore[arg-type]


# --- plain text and the fallback ------------------------------------------------------------------------


def test_plain_text_adf() -> None:
    result = plain_text_adf("  first\nline two\n\n \n\nsecond **not bold**\x00\n")
    assert result == {
        "type": "doc",
        "version": 1,
        "content": [p(t("  first"), BR, t("line two")), p(t("second **not bold**"))],
    }
    assert_valid(result)
    assert plain_text_adf("") == {"type": "doc", "version": 1, "content": []}
    with pytest.raises(BadRequestError):
        plain_text_adf(b"bytes")  # type: ignore[arg-type]


def test_ensure_valid_adf_uses_the_conversion_when_valid() -> None:
    assert ensure_valid_adf("**hi**") == markdown_to_adf("**hi**")


def test_ensure_valid_adf_falls_back_when_conversion_is_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = {
        "type": "doc",
        "version": 1,
        "content": [p(t("x")), {"type": "paragraph", "content": [{"type": "text", "text": ""}]}],
    }
    monkeypatch.setattr(adf, "markdown_to_adf", lambda _markdown: broken)
    assert ensure_valid_adf("**hi**\n\nthere") == plain_text_adf("**hi**\n\nthere")


def test_ensure_valid_adf_falls_back_when_conversion_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(_markdown: str) -> dict:
        raise RuntimeError("converter bug")

    monkeypatch.setattr(adf, "markdown_to_adf", explode)
    result = ensure_valid_adf("text")
    assert result == plain_text_adf("text")
    assert is_valid_adf(result)


@pytest.mark.parametrize("value", [None, 42, "", "\x00\x01"])
def test_ensure_valid_adf_never_raises(value: Any) -> None:
    assert is_valid_adf(ensure_valid_adf(value))


# --- validation -----------------------------------------------------------------------------------------


def test_packaged_schema_is_atlassians() -> None:
    schema = json.loads(PACKAGED_SCHEMA.read_text("utf-8"))
    Draft4Validator.check_schema(schema)
    if SHARED_SCHEMA.exists():
        assert schema == json.loads(SHARED_SCHEMA.read_text("utf-8"))


def test_validator_is_built_once() -> None:
    assert adf._validator() is adf._validator()


@pytest.mark.parametrize(
    ("document", "expected_fragment"),
    [
        (
            {"type": "doc", "version": 1, "content": [p({"type": "text", "text": ""})]},
            "content/0/content/0/text",
        ),
        ({"type": "doc", "version": 1, "content": [p(t("x", "code", "strong"))]}, "is not allowed here"),
        (
            {
                "type": "doc",
                "version": 1,
                "content": [{"type": "blockquote", "content": [{"type": "blockquote", "content": [p()]}]}],
            },
            "type 'blockquote' is not allowed here",
        ),
        ({"type": "doc", "content": []}, "'version' is a required property"),
        (
            {"type": "doc", "version": 1, "content": [{"type": "bulletList", "content": []}]},
            "should be non-empty",
        ),
        (
            {"type": "doc", "version": 1, "content": [{"type": "mystery"}]},
            "type 'mystery' is not allowed here",
        ),
        ("not a doc", "is not of type 'object'"),
        (None, "is not of type 'object'"),
    ],
)
def test_validate_adf_reports_readable_errors(document: Any, expected_fragment: str) -> None:
    errors = validate_adf(document)
    assert errors, document
    assert any(expected_fragment in error for error in errors), errors
    assert all(len(error) < 700 for error in errors)
    assert not is_valid_adf(document)


def test_validate_adf_survives_absurd_nesting() -> None:
    deep: dict = p(t("x"))
    for _ in range(3000):
        deep = {"type": "bulletList", "content": [li(p(t("x")), deep)]}
    errors = validate_adf({"type": "doc", "version": 1, "content": [deep]})
    assert errors  # either a schema error or "nests too deeply", never a RecursionError
    assert not is_valid_adf({"type": "doc", "version": 1, "content": [deep]})


VALID_DOCS = [
    markdown_to_adf("# T\n\n- a\n  - b\n\n> q\n\n| a |\n|---|\n| 1 |\n\n```py\nx\n```\n\n---"),
    doc(paragraph("Hi ", mention_node("5b10a2844c20165700ede21g", "Alana"), "!")),
]


def _mutations(document: dict) -> list[dict]:
    """Small invalid variants of a valid doc, to compare verdicts with the stock validator."""
    variants = []
    for path_edit in (
        lambda d: d["content"].append({"type": "blockquote", "content": [{"type": "rule"}]}),
        lambda d: d["content"][0].setdefault("content", []).append({"type": "text", "text": ""}),
        lambda d: d["content"].append(p(t("x", "code", "em"))),
        lambda d: d["content"].append({"type": "bulletList", "content": [p(t("not an item"))]}),
        lambda d: d.pop("version"),
        lambda d: d["content"].append({"type": "heading", "attrs": {"level": 7}, "content": []}),
        lambda d: d["content"].append(
            {
                "type": "table",
                "content": [{"type": "tableRow", "content": [{"type": "tableCell", "content": []}]}],
            }
        ),
    ):
        variant = copy.deepcopy(document)
        path_edit(variant)
        variants.append(variant)
    return variants


@pytest.fixture(scope="module")
def stock_validator() -> Draft4Validator:
    """jsonschema's own Draft4Validator, without our anyOf/$ref shortcuts (slow but the reference)."""
    return Draft4Validator(json.loads(PACKAGED_SCHEMA.read_text("utf-8")))


@pytest.mark.parametrize("document", [d for base in VALID_DOCS for d in [base, *_mutations(base)]])
def test_fast_validator_agrees_with_stock_draft4(document: dict, stock_validator: Draft4Validator) -> None:
    stock = stock_validator
    assert is_valid_adf(document) == stock.is_valid(document)
    assert (validate_adf(document) == []) == stock.is_valid(document)


# --- builders -------------------------------------------------------------------------------------------


def test_builders_make_valid_adf() -> None:
    built = doc(
        heading(2, "Summary"),
        paragraph(
            mention_node("5b10a2844c20165700ede21g", "Alana Grant"),
            " see ",
            text("the docs", marks=["strong", link_mark("https://example.com/docs", "Docs")]),
            hard_break(),
            text("make", marks=("code",)),
            "",
        ),
        code_block("print(1)", "python"),
        code_block(""),
    )
    assert built["content"][1]["content"][0] == {
        "type": "mention",
        "attrs": {"id": "5b10a2844c20165700ede21g", "text": "@Alana Grant"},
    }
    assert built["content"][1]["content"][2]["marks"] == [
        {"type": "strong"},
        {"type": "link", "attrs": {"href": "https://example.com/docs", "title": "Docs"}},
    ]
    assert built["content"][3] == {"type": "codeBlock", "content": []}
    assert_valid(built)
    assert adf_to_text(built).startswith("Summary\n\n@Alana Grant see the docs\nmake")


def test_mention_keeps_an_existing_at_and_may_omit_text() -> None:
    assert mention_node("abc", "@Bo")["attrs"]["text"] == "@Bo"
    assert mention_node("abc", "")["attrs"] == {"id": "abc"}


@pytest.mark.parametrize(
    "build",
    [
        lambda: text(""),
        lambda: text("\x00"),
        lambda: text("x", marks=["code", "strong"]),
        lambda: text("x", marks=["blink"]),
        lambda: link_mark("javascript:alert(1)"),
        lambda: link_mark("/relative"),
        lambda: mention_node("", "Name"),
        lambda: heading(7, "x"),
        lambda: paragraph(3),  # type: ignore[arg-type]
        lambda: doc("not a node"),  # type: ignore[arg-type]
    ],
)
def test_builders_reject_bad_input(build: Any) -> None:
    with pytest.raises(BadRequestError):
        build()


# --- ADF -> text ----------------------------------------------------------------------------------------

JIRA_COMMENT_BODY = {
    "version": 1,
    "type": "doc",
    "content": [
        {
            "type": "paragraph",
            "content": [
                {
                    "type": "mention",
                    "attrs": {"id": "712020:abc", "text": "@AI Assistant", "accessLevel": ""},
                },
                {"type": "text", "text": " summarize this, please "},
                {"type": "emoji", "attrs": {"shortName": ":pray:", "id": "1f64f", "text": "🙏"}},
                {"type": "hardBreak"},
                {"type": "text", "text": "see "},
                {"type": "inlineCard", "attrs": {"url": "https://acme.atlassian.net/browse/ABC-12"}},
                {"type": "text", "text": " and "},
                {"type": "status", "attrs": {"text": "IN PROGRESS", "color": "blue", "localId": "x"}},
                {"type": "text", "text": " due "},
                {"type": "date", "attrs": {"timestamp": "1735689600000"}},
            ],
        },
        {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": "Steps"}]},
        {
            "type": "orderedList",
            "attrs": {"order": 2},
            "content": [
                {"type": "listItem", "content": [p(t("open the page"))]},
                {
                    "type": "listItem",
                    "content": [
                        p(t("click ", "strong"), t("Save")),
                        {"type": "bulletList", "content": [li(p(t("it fails"))), li(p(t("twice")))]},
                    ],
                },
            ],
        },
        {
            "type": "codeBlock",
            "attrs": {"language": "java"},
            "content": [t("NullPointerException\n  at Foo")],
        },
        {"type": "panel", "attrs": {"panelType": "warning"}, "content": [p(t("Customer impact"))]},
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableHeader", "content": [p(t("Env"))]},
                        {"type": "tableHeader", "content": [p(t("Result"))]},
                    ],
                },
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableCell", "content": [p(t("prod"))]},
                        {"type": "tableCell", "content": [p(t("broken")), p(t("since Monday"))]},
                    ],
                },
            ],
        },
        {"type": "blockquote", "content": [p(t("quoted line")), p(t("second"))]},
        {"type": "rule"},
        {
            "type": "mediaSingle",
            "attrs": {"layout": "center"},
            "content": [{"type": "media", "attrs": {"id": "abc", "type": "file", "collection": "jira"}}],
        },
        {
            "type": "taskList",
            "attrs": {"localId": "t"},
            "content": [
                {"type": "taskItem", "attrs": {"localId": "1", "state": "DONE"}, "content": [t("reproduce")]},
                {"type": "taskItem", "attrs": {"localId": "2", "state": "TODO"}, "content": [t("fix")]},
            ],
        },
        {"type": "expand", "attrs": {"title": "Logs"}, "content": [p(t("log line"))]},
    ],
}

JIRA_COMMENT_TEXT = """@AI Assistant summarize this, please 🙏
see https://acme.atlassian.net/browse/ABC-12 and IN PROGRESS due 2025-01-01

Steps

2. open the page
3. click Save
   - it fails
   - twice

```java
NullPointerException
  at Foo
```

Customer impact

Env | Result
prod | broken since Monday

> quoted line
>
> second

---

[attachment]

[x] reproduce
[ ] fix

Logs

log line"""


def test_adf_to_text_on_a_realistic_comment() -> None:
    assert adf_to_text(JIRA_COMMENT_BODY) == JIRA_COMMENT_TEXT


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"type": "mention", "attrs": {"id": "1", "text": "Bo"}}, "@Bo"),
        ({"type": "mention", "attrs": {"id": "557058:x"}}, "@557058:x"),
        ({"type": "mention", "attrs": None}, "@unknown"),
        ({"type": "emoji", "attrs": {"shortName": ":smile:"}}, ":smile:"),
        ({"type": "blockCard", "attrs": {"url": "https://e.test"}}, "https://e.test"),
        ({"type": "inlineCard", "attrs": {"data": {"url": "https://d.test"}}}, "https://d.test"),
        ({"type": "date", "attrs": {"timestamp": "not a number"}}, "not a number"),
        (
            {"type": "mediaGroup", "content": [{"type": "media"}, {"type": "media"}]},
            "[attachment]\n[attachment]",
        ),
        ({"type": "orderedList", "attrs": {"order": "x"}, "content": [li(p(t("a")))]}, "1. a"),
        ({"type": "bulletList", "content": [li()]}, "-"),
        ({"type": "futureNode", "content": [p(t("inside")), p(t("unknown"))]}, "inside\n\nunknown"),
        (
            {
                "type": "layoutSection",
                "content": [
                    {"type": "layoutColumn", "content": [p(t("left"))]},
                    {"type": "layoutColumn", "content": [p(t("right"))]},
                ],
            },
            "left\n\nright",
        ),
        (
            {
                "type": "paragraph",
                "content": [t("a"), {"type": "text"}, {"type": "text", "text": 5}, "raw", t("b")],
            },
            "arawb",
        ),
        ({"content": {"type": "text", "text": "dict content"}}, "dict content"),
        ([p(t("list")), p(t("of blocks"))], "list\n\nof blocks"),
        ({"type": "codeBlock"}, "```\n\n```"),
    ],
)
def test_adf_to_text_nodes(node: Any, expected: str) -> None:
    assert adf_to_text(node) == expected


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        "",
        42,
        3.5,
        True,
        [],
        [1, None, "x"],
        {},
        {"type": 5},
        {"type": "doc", "content": "nope"},
        {"type": "doc", "content": [None, 7, [], {"type": None}]},
        {"type": "text", "text": None},
        object(),
    ],
)
def test_adf_to_text_never_raises_on_garbage(garbage: Any) -> None:
    assert isinstance(adf_to_text(garbage), str)


def test_adf_to_text_of_old_string_bodies() -> None:
    assert adf_to_text("  h1. Wiki *markup* body \n") == "h1. Wiki *markup* body"


def test_adf_to_text_survives_deep_nesting_and_cycles() -> None:
    deep: dict = p(t("bottom"))
    for _ in range(5000):
        deep = {"type": "blockquote", "content": [deep]}
    assert "bottom" in adf_to_text({"type": "doc", "content": [deep]})

    cyclic: dict = {"type": "doc", "content": [p(t("loop"))]}
    cyclic["content"].append(cyclic)
    assert "loop" in adf_to_text(cyclic)


def test_round_trip_keeps_the_words() -> None:
    markdown = (
        "# Plan\n\n1. **Fix** the `parser`\n2. Ship [it](https://e.test)\n\n| k | v |\n|---|---|\n| x | y |"
    )
    assert words(markdown) - {"https", "e", "test"} <= words(adf_to_text(markdown_to_adf(markdown)))
