"""Markdown, as a language model writes it, to Atlassian Document Format (ADF).

markdown-it-py parses CommonMark plus GFM tables and strikethrough into a flat token stream. We build
a tree from that stream, then *fit* the tree into what ADF allows where: ADF has no quote inside a
quote, no heading, quote or rule inside a list item, no table below the document root, and
Atlassian's editors indent lists at most :data:`MAX_LIST_DEPTH` levels. Whatever does not fit is
flattened into something that does (never dropped), so no visible text is lost.

Raw HTML is never interpreted (it stays text), links keep only http, https and mailto targets, and
characters that Jira rejects (C0/C1 controls other than newline and tab, lone surrogates) are removed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.common.utils import unescapeAll
from markdown_it.token import Token

from connect_app.errors import BadRequestError

Node = dict[str, Any]

#: Deepest list nesting we emit; Atlassian's editors do not indent lists further than this.
MAX_LIST_DEPTH = 6

#: markdown-it stops parsing (silently dropping text) below this block nesting level; we detect
#: when a block reaches it and show that block's source as plain text instead.
_PARSER_MAX_NESTING = 40

_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_REJECTED_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_BARE_URL = re.compile(r"https?://[^\s<>\"'`\[\]{}|\\^]+", re.IGNORECASE)
_URL_TRAILING_PUNCTUATION = ".,:;!?*_~"
_BLOCKQUOTE_PREFIX = re.compile(r"^[ \t]*>[ \t]?")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_PARAGRAPH_BREAK = re.compile(r"\n(?:[ \t]*\n)+")

#: Which block types each container accepts (a subset of the ADF schema: the types we produce).
_ALLOWED: dict[str, frozenset[str]] = {
    "doc": frozenset(
        {"paragraph", "heading", "bulletList", "orderedList", "blockquote", "codeBlock", "rule", "table"}
    ),
    "blockquote": frozenset({"paragraph", "bulletList", "orderedList", "codeBlock"}),
    "listItem": frozenset({"paragraph", "bulletList", "orderedList", "codeBlock"}),
}

_OPENERS: dict[str, str] = {
    "paragraph_open": "paragraph",
    "heading_open": "heading",
    "blockquote_open": "blockquote",
    "bullet_list_open": "bulletList",
    "ordered_list_open": "orderedList",
    "list_item_open": "listItem",
    "table_open": "table",
    "tr_open": "tableRow",
    "th_open": "tableHeader",
    "td_open": "tableCell",
}


def clean_text(value: str) -> str:
    """Normalise line endings to LF and remove characters the ADF schema or Jira reject."""
    return _REJECTED_CHARS.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def safe_href(href: str | None) -> str | None:
    """Return ``href`` cleaned if it is an http(s) URL with a host or a mailto: address, else None."""
    if not href:
        return None
    href = clean_text(href).strip()
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _SAFE_SCHEMES:
        return None
    if scheme == "mailto":
        return href if len(href) > len("mailto:") else None
    return href if parts.netloc else None


def plain_paragraphs(value: str) -> list[Node]:
    """Paragraphs from plain text: blank lines separate paragraphs, single newlines become hardBreaks."""
    blocks: list[Node] = []
    for chunk in _PARAGRAPH_BREAK.split(clean_text(value)):
        lines = chunk.split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if not lines:
            continue
        inlines: list[Node] = []
        for number, line in enumerate(lines):
            if number:
                inlines.append({"type": "hardBreak"})
            if line:
                inlines.append({"type": "text", "text": line})
        blocks.append({"type": "paragraph", "content": inlines})
    return blocks


def markdown_to_adf(markdown: str) -> Node:
    """Convert Markdown to an ADF ``doc`` (version 1) that validates against Atlassian's schema.

    Soft line breaks become ``hardBreak`` nodes (as in GitHub comments), images become links (we
    cannot upload media) and bare http(s) URLs become links. Raises :class:`BadRequestError` only
    when ``markdown`` is not a string; every string (empty, huge, pathological) gives a valid doc.
    """
    if not isinstance(markdown, str):
        raise BadRequestError(f"markdown_to_adf expects a str, got {type(markdown).__name__}")
    source = clean_text(markdown)
    lines = source.split("\n")
    blocks: list[Node] = []
    for group in _top_level_groups(_parser().parse(source)):
        if any(token.level >= _PARSER_MAX_NESTING - 1 for token in group):
            blocks.extend(plain_paragraphs(_source_of(group, lines)))
        else:
            blocks.extend(_fit_all(_build_tree(group, lines), "doc", 0))
    return {"type": "doc", "version": 1, "content": blocks}


@functools.cache
def _parser() -> MarkdownIt:
    """CommonMark + tables + strikethrough; raw HTML off (shown as text), no typographer."""
    options = {"html": False, "maxNesting": _PARSER_MAX_NESTING}
    return MarkdownIt("commonmark", options).enable(["table", "strikethrough"])


def _top_level_groups(tokens: Sequence[Token]) -> Iterator[list[Token]]:
    """Split the token stream into the tokens of each top-level block."""
    group: list[Token] = []
    for token in tokens:
        group.append(token)
        if token.level == 0 and token.nesting <= 0:
            yield group
            group = []
    if group:
        yield group


def _source_of(group: Sequence[Token], lines: Sequence[str]) -> str:
    """The Markdown source lines a top-level block came from."""
    first = group[0]
    if first.map:
        return "\n".join(lines[first.map[0] : first.map[1]])
    return "\n".join(token.content for token in group if token.content)


# --- token stream -> naive tree -----------------------------------------------------------------------


def _build_tree(tokens: Sequence[Token], lines: Sequence[str]) -> list[Node]:
    """Mirror the Markdown structure in ADF-shaped dicts (not yet fitted to ADF's nesting rules)."""
    root: Node = {"type": "doc", "content": []}
    stack: list[Node] = [root]
    for token in tokens:
        parent = stack[-1]
        if token.nesting == 1:
            node = _open_node(token, stack, lines)
            if node is None:  # transparent wrapper (thead, tbody)
                stack.append(parent)
            else:
                parent["content"].append(node)
                stack.append(node)
        elif token.nesting == -1:
            if len(stack) > 1:
                _close_node(stack.pop())
        elif token.type == "inline":
            parent["content"].extend(_InlineBuilder().build(token.children or []))
        else:
            parent["content"].extend(_leaf_blocks(token))
    return root["content"]


def _open_node(token: Token, stack: Sequence[Node], lines: Sequence[str]) -> Node | None:
    kind = _OPENERS.get(token.type)
    if kind is None:
        return None
    node: Node = {"type": kind}
    if kind == "heading":
        level = int(token.tag[1:]) if token.tag[1:].isdigit() else 1
        node["attrs"] = {"level": min(max(level, 1), 6)}
    elif kind == "orderedList":
        start = token.attrGet("start")
        node["attrs"] = {"order": start if isinstance(start, int) and start >= 0 else 1}
    elif kind in ("tableHeader", "tableCell"):
        style = str(token.attrGet("style") or "")
        node["_align"] = "center" if "center" in style else "end" if "right" in style else None
    elif kind == "tableRow" and token.map:
        quotes = sum(1 for ancestor in stack if ancestor["type"] == "blockquote")
        node["_source"] = _strip_quote_prefix(lines[token.map[0]], quotes)
    node["content"] = []
    return node


def _close_node(node: Node) -> None:
    if node["type"] in ("tableHeader", "tableCell"):
        align = node.pop("_align", None)
        cell_paragraph: Node = {"type": "paragraph", "content": node["content"]}
        if align:
            cell_paragraph["marks"] = [{"type": "alignment", "attrs": {"align": align}}]
        node["content"] = [cell_paragraph]
    elif node["type"] == "tableRow":
        source = node.pop("_source", "")
        if node["content"] and node["content"][0]["type"] == "tableCell":  # the header row sets the width
            _keep_excess_cells(node, source)


def _leaf_blocks(token: Token) -> list[Node]:
    if token.type in ("fence", "code_block"):
        code = token.content[:-1] if token.content.endswith("\n") else token.content
        node: Node = {"type": "codeBlock", "content": _plain_text_nodes(code)}
        language = clean_text(unescapeAll(token.info)).strip().split(maxsplit=1)
        if token.type == "fence" and language:
            node["attrs"] = {"language": language[0]}
        return [node]
    if token.type == "hr":
        return [{"type": "rule"}]
    return plain_paragraphs(token.content)


def _strip_quote_prefix(line: str, quotes: int) -> str:
    for _ in range(quotes):
        line = _BLOCKQUOTE_PREFIX.sub("", line, count=1)
    return line


def _keep_excess_cells(row: Node, source: str) -> None:
    """GFM ignores cells beyond the header's column count; append their text to the last cell."""
    cells = _UNESCAPED_PIPE.split(source.strip())
    if cells and not cells[0].strip():
        cells.pop(0)
    if cells and not cells[-1].strip():
        cells.pop()
    excess = " | ".join(cell.strip() for cell in cells[len(row["content"]) :] if cell.strip())
    if not excess or not row["content"]:
        return
    inline_tokens = _parser().parseInline(excess)
    extra = _InlineBuilder().build(inline_tokens[0].children or []) if inline_tokens else []
    last_paragraph = row["content"][-1]["content"][0]
    separator = [{"type": "text", "text": " | "}] if last_paragraph["content"] else []
    last_paragraph["content"] = _merge_texts([*last_paragraph["content"], *separator, *extra])


def _plain_text_nodes(value: str) -> list[Node]:
    value = clean_text(value)
    return [{"type": "text", "text": value}] if value else []


# --- inline tokens -> inline nodes ----------------------------------------------------------------------


class _InlineBuilder:
    """Turns one inline token list into ADF inline nodes, tracking the open marks and links."""

    _TOGGLES = {"strong": "strong", "em": "em", "s": "strike"}

    def __init__(self) -> None:
        self._open = {"strong": 0, "em": 0, "strike": 0}
        self._links: list[Node | None] = []  # link marks of the open links; None for unsafe targets
        self._nodes: list[Node] = []

    def build(self, tokens: Iterable[Token]) -> list[Node]:
        """The inline nodes for ``tokens``: merged, without empty text, bare URLs linked."""
        for token in tokens:
            self._feed(token)
        return _linkify(_merge_texts(self._nodes))

    def _feed(self, token: Token) -> None:
        kind = token.type
        name, _, phase = kind.rpartition("_")
        if name in self._TOGGLES and phase in ("open", "close"):
            mark = self._TOGGLES[name]
            self._open[mark] = max(self._open[mark] + (1 if phase == "open" else -1), 0)
        elif kind == "link_open":
            self._links.append(_link_mark_or_none(token.attrGet("href"), token.attrGet("title")))
        elif kind == "link_close":
            if self._links:
                self._links.pop()
        elif kind == "code_inline":
            self._add(token.content, code=True)
        elif kind in ("softbreak", "hardbreak"):
            self._nodes.append({"type": "hardBreak"})
        elif kind == "image":
            self._add_image(token)
        else:  # text, text_special, html_inline (raw HTML is shown, never interpreted), anything new
            self._add(token.content)

    def _add_image(self, token: Token) -> None:
        alt = "".join(child.content for child in token.children or []) or token.content
        link = _link_mark_or_none(token.attrGet("src"), token.attrGet("title"))
        self._links.append(link)
        self._add(alt.strip() or (link["attrs"]["href"] if link else "[image]"))
        self._links.pop()

    def _add(self, value: str, *, code: bool = False) -> None:
        value = clean_text(value).replace("\n", " ")  # entities such as &#13; can smuggle in line breaks
        if not value:
            return
        marks: list[Node] = (
            [{"type": "code"}]
            if code  # the schema lets the code mark combine with link only
            else [{"type": mark} for mark in ("strong", "em", "strike") if self._open[mark]]
        )
        link = next((link for link in reversed(self._links) if link), None)
        if link:
            marks.append(link)
        node: Node = {"type": "text", "text": value}
        if marks:
            node["marks"] = marks
        self._nodes.append(node)


def _link_mark_or_none(href: object, title: object) -> Node | None:
    safe = safe_href(href) if isinstance(href, str) else None
    if safe is None:
        return None
    return _link_mark(safe, clean_text(title) if isinstance(title, str) else None)


def _link_mark(href: str, title: str | None = None) -> Node:
    attrs = {"href": href}
    if title:
        attrs["title"] = title
    return {"type": "link", "attrs": attrs}


def _merge_texts(nodes: Iterable[Node]) -> list[Node]:
    """Drop empty text nodes and merge adjacent text nodes whose marks are equal."""
    merged: list[Node] = []
    for node in nodes:
        if node.get("type") == "text":
            if not node.get("text"):
                continue
            previous = merged[-1] if merged else None
            if previous and previous.get("type") == "text" and previous.get("marks") == node.get("marks"):
                merged[-1] = {**previous, "text": previous["text"] + node["text"]}
                continue
        merged.append(node)
    return merged


def _linkify(nodes: list[Node]) -> list[Node]:
    """Give bare http(s) URLs in unlinked, non-code text a link mark."""
    result: list[Node] = []
    for node in nodes:
        marks = node.get("marks", [])
        if node["type"] != "text" or any(mark["type"] in ("link", "code") for mark in marks):
            result.append(node)
            continue
        for piece, href in _split_urls(node["text"]):
            piece_marks = [*marks, _link_mark(href)] if href else marks
            result.append({"type": "text", "text": piece, **({"marks": piece_marks} if piece_marks else {})})
    return result


def _split_urls(value: str) -> Iterator[tuple[str, str | None]]:
    position = 0
    for match in _BARE_URL.finditer(value):
        url = _trim_url(match.group())
        href = safe_href(url)
        if not href:
            continue
        if match.start() > position:
            yield value[position : match.start()], None
        yield url, href
        position = match.start() + len(url)
    if position < len(value):
        yield value[position:], None


def _trim_url(url: str) -> str:
    """Leave sentence punctuation and an unbalanced closing parenthesis outside the URL."""
    while url:
        if url[-1] in _URL_TRAILING_PUNCTUATION or (url[-1] == ")" and url.count(")") > url.count("(")):
            url = url[:-1]
        else:
            break
    return url


# --- naive tree -> valid ADF ---------------------------------------------------------------------------


def _fit_all(nodes: Iterable[Node], where: str, depth: int) -> list[Node]:
    """Fit ``nodes`` into a ``where`` container nested inside ``depth`` lists."""
    fitted: list[Node] = []
    for node in nodes:
        fitted.extend(_fit(node, where, depth))
    return fitted


def _fit(node: Node, where: str, depth: int) -> list[Node]:
    kind = node["type"]
    allowed = _ALLOWED[where]
    if kind in ("paragraph", "heading"):
        if not node["content"]:
            return []
        return [node] if kind in allowed else [_heading_as_paragraph(node)]
    if kind == "blockquote":
        inner = _fit_all(node["content"], "blockquote", depth)
        if not inner or kind not in allowed:
            return inner
        return [{"type": "blockquote", "content": inner}]
    if kind in ("bulletList", "orderedList"):
        if depth >= MAX_LIST_DEPTH:
            return _list_as_paragraphs(node, depth)
        items = [_fit_list_item(item, depth + 1) for item in node["content"]]
        return [{**node, "content": items}] if items else []
    if kind == "table":
        return [_finish_table(node)] if kind in allowed else _table_as_paragraphs(node)
    if kind == "rule":
        return [node] if kind in allowed else []
    if kind == "codeBlock":
        return [node]
    return _fit_all(node.get("content", []), where, depth)  # anything else: keep what is inside


def _fit_list_item(item: Node, depth: int) -> Node:
    content = _fit_all(item["content"], "listItem", depth)
    if not content or content[0]["type"] not in ("paragraph", "codeBlock"):
        content.insert(0, {"type": "paragraph", "content": []})
    return {"type": "listItem", "content": content}


def _heading_as_paragraph(heading: Node) -> Node:
    """Headings are not allowed in quotes and list items: keep the text, in bold."""
    content = []
    for node in heading["content"]:
        marks = node.get("marks", [])
        if node["type"] == "text" and not any(mark["type"] in ("code", "strong") for mark in marks):
            node = {**node, "marks": [{"type": "strong"}, *marks]}
        content.append(node)
    return {"type": "paragraph", "content": _merge_texts(content)}


def _list_as_paragraphs(node: Node, depth: int) -> list[Node]:
    """A list nested deeper than ADF allows: its items become paragraphs starting "- " or "N. "."""
    start = node.get("attrs", {}).get("order", 1)
    blocks: list[Node] = []
    for number, item in enumerate(node["content"], start=start):
        marker = f"{number}. " if node["type"] == "orderedList" else "- "
        content = _fit_all(item["content"], "listItem", depth)
        if content and content[0]["type"] == "paragraph":
            first = content[0]
            content[0] = {**first, "content": _merge_texts([_text(marker), *first["content"]])}
        else:
            content.insert(0, {"type": "paragraph", "content": [_text(marker.rstrip())]})
        blocks.extend(content)
    return blocks


def _finish_table(table: Node) -> Node:
    return {
        "type": "table",
        "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
        "content": [{"type": "tableRow", "content": row["content"]} for row in table["content"]],
    }


def _table_as_paragraphs(table: Node) -> list[Node]:
    """Tables are only allowed at the top level: elsewhere each row becomes "a | b | c"."""
    paragraphs: list[Node] = []
    for row in table["content"]:
        inlines: list[Node] = []
        for number, cell in enumerate(row["content"]):
            if number:
                inlines.append(_text(" | "))
            inlines.extend(cell["content"][0]["content"])
        if any(node["type"] != "text" or node["text"].strip(" |") for node in inlines):
            paragraphs.append({"type": "paragraph", "content": _merge_texts(inlines)})
    return paragraphs


def _text(value: str) -> Node:
    return {"type": "text", "text": value}
