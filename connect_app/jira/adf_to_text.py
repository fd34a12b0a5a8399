"""Readable plain text from Atlassian Document Format, for prompts, logs and classification.

Accepts anything Jira may hand us: a ``doc``, a single node, a list of nodes, a comment ``body`` that
is still a string (older payloads), ``None`` or plain garbage. It never raises: unknown node types
are rendered by reading their ``content``, wrong types are skipped, and documents nested deeper than
:data:`_MAX_DEPTH` (or containing cycles) fall back to a flat walk over their text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

_MAX_DEPTH = 120
_MAX_FLAT_NODES = 200_000
_ATTACHMENT = "[attachment]"
_EXTRA_BLANK_LINES = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")

_INLINE_TYPES = frozenset(
    {
        "text",
        "hardBreak",
        "mention",
        "emoji",
        "inlineCard",
        "status",
        "date",
        "mediaInline",
        "placeholder",
        "inlineExtension",
    }
)


def adf_to_text(node: object) -> str:
    """Plain text for an ADF node (or a comment body string, or ``None``); never raises.

    Blocks are separated by blank lines, list items start with "- " or "1. ", mentions read
    ``@Display Name``, hard breaks are newlines, code blocks are fenced with ```, table rows are
    cells joined by " | ", media reads "[attachment]".
    """
    if node is None:
        return ""
    if isinstance(node, str):
        return node.strip()
    try:
        rendered = _render(node, 0)
    except (RecursionError, TypeError, ValueError, AttributeError, KeyError):
        rendered = " ".join(_flat_strings(node))
    return _tidy(rendered)


def _tidy(value: str) -> str:
    value = _TRAILING_SPACE.sub("\n", value)
    return _EXTRA_BLANK_LINES.sub("\n\n", value).strip()


def _render(node: object, depth: int) -> str:
    if depth > _MAX_DEPTH:
        return " ".join(_flat_strings(node))
    if isinstance(node, list):
        return _join_content(node, depth, "\n\n")
    if isinstance(node, str):
        return node
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        if isinstance(node.get("text"), str) and "content" not in node:
            return node["text"]
        return _join_content(_children(node), depth + 1, "\n\n")
    return handler(node, depth + 1)


# --- helpers over loosely typed nodes -------------------------------------------------------------------


def _children(node: dict[str, Any]) -> list[Any]:
    content = node.get("content")
    if isinstance(content, list):
        return content
    if isinstance(content, dict):
        return [content]
    return []


def _attrs(node: dict[str, Any]) -> dict[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _attr_text(node: dict[str, Any], *names: str) -> str:
    attrs = _attrs(node)
    for name in names:
        value = attrs.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def _is_inline(node: object) -> bool:
    return isinstance(node, str) or (isinstance(node, dict) and node.get("type") in _INLINE_TYPES)


def _join_content(children: list[Any], depth: int, separator: str) -> str:
    """Render children: runs of inline nodes are concatenated, blocks joined by ``separator``."""
    parts: list[str] = []
    inline_run: list[str] = []
    for child in children:
        if _is_inline(child):
            inline_run.append(_render(child, depth))
            continue
        if inline_run:
            parts.append("".join(inline_run))
            inline_run = []
        parts.append(_render(child, depth))
    if inline_run:
        parts.append("".join(inline_run))
    return separator.join(part for part in parts if part.strip())


def _content(node: dict[str, Any], depth: int, separator: str = "\n\n") -> str:
    return _join_content(_children(node), depth, separator)


def _flat_strings(root: object) -> Iterator[str]:
    """Every text-like string under ``root``, iteratively (no recursion, cycle-safe, bounded)."""
    stack = [root]
    seen: set[int] = set()
    visited = 0
    while stack and visited < _MAX_FLAT_NODES:
        node = stack.pop()
        visited += 1
        if isinstance(node, list):
            if id(node) not in seen:
                seen.add(id(node))
                stack.extend(reversed(node))
        elif isinstance(node, dict) and id(node) not in seen:
            seen.add(id(node))
            kind = node.get("type")
            if kind == "text" and isinstance(node.get("text"), str):
                yield node["text"]
            elif isinstance(kind, str) and kind in _HANDLERS and kind not in _CONTAINER_TYPES:
                leaf = _safe_leaf(node)
                if leaf:
                    yield leaf
            stack.append(node.get("content"))


def _safe_leaf(node: dict[str, Any]) -> str:
    try:
        return _HANDLERS[node["type"]](node, _MAX_DEPTH)
    except (RecursionError, TypeError, ValueError, AttributeError, KeyError):
        return ""


# --- node handlers --------------------------------------------------------------------------------------


def _text(node: dict[str, Any], _depth: int) -> str:
    value = node.get("text")
    return value if isinstance(value, str) else ""


def _mention(node: dict[str, Any], _depth: int) -> str:
    name = _attr_text(node, "text", "displayName", "id")
    if not name:
        return "@unknown"
    return name if name.startswith("@") else f"@{name}"


def _emoji(node: dict[str, Any], _depth: int) -> str:
    return _attr_text(node, "text", "shortName")


def _card(node: dict[str, Any], _depth: int) -> str:
    url = _attr_text(node, "url")
    if url:
        return url
    data = _attrs(node).get("data")
    if isinstance(data, dict) and isinstance(data.get("url"), str):
        return data["url"]
    return ""


def _date(node: dict[str, Any], _depth: int) -> str:
    raw = _attrs(node).get("timestamp")
    try:
        return datetime.fromtimestamp(int(str(raw)) / 1000, tz=UTC).date().isoformat()
    except (ValueError, TypeError, OverflowError, OSError):
        return str(raw) if isinstance(raw, str | int) else ""


def _code_block(node: dict[str, Any], _depth: int) -> str:
    code = "".join(_text(child, 0) for child in _children(node) if isinstance(child, dict))
    return f"```{_attr_text(node, 'language').strip()}\n{code}\n```"


def _list(node: dict[str, Any], depth: int) -> str:
    ordered = node.get("type") == "orderedList"
    order = _attrs(node).get("order", 1)
    start = int(order) if isinstance(order, int | float) and not isinstance(order, bool) else 1
    lines = []
    for number, item in enumerate(_children(node), start=start):
        marker = f"{number}. " if ordered else "- "
        body = _render_item_body(item, depth)
        lines.append(_hang(marker, body))
    return "\n".join(lines)


def _task_list(node: dict[str, Any], depth: int) -> str:
    lines = []
    for item in _children(node):
        if isinstance(item, dict) and item.get("type") in ("taskList", "decisionList"):
            lines.append(_hang("  ", _render(item, depth)))
            continue
        if isinstance(item, dict) and item.get("type") in ("taskItem", "blockTaskItem"):
            marker = "[x] " if _attrs(item).get("state") == "DONE" else "[ ] "
        else:
            marker = "- "
        lines.append(_hang(marker, _render_item_body(item, depth)))
    return "\n".join(lines)


def _render_item_body(item: object, depth: int) -> str:
    if isinstance(item, dict):
        return _content(item, depth + 1, "\n")
    return _render(item, depth + 1)


def _hang(marker: str, body: str) -> str:
    first, *rest = body.split("\n")
    indent = " " * len(marker)
    return "\n".join([marker + first, *(indent + line if line else line for line in rest)])


def _blockquote(node: dict[str, Any], depth: int) -> str:
    body = _content(node, depth)
    return "\n".join(f"> {line}" if line else ">" for line in body.split("\n"))


def _table(node: dict[str, Any], depth: int) -> str:
    rows = []
    for row in _children(node):
        cells = _children(row) if isinstance(row, dict) else []
        texts = [_render_cell(cell, depth + 1) for cell in cells]
        if any(texts):
            rows.append(" | ".join(texts))
    return "\n".join(rows)


def _render_cell(cell: object, depth: int) -> str:
    rendered = _content(cell, depth, " ") if isinstance(cell, dict) else _render(cell, depth)
    return " ".join(rendered.split())


def _expand(node: dict[str, Any], depth: int) -> str:
    return "\n\n".join(part for part in (_attr_text(node, "title"), _content(node, depth)) if part)


def _status(node: dict[str, Any], _depth: int) -> str:
    return _attr_text(node, "text")


def _constant(value: str) -> Callable[[dict[str, Any], int], str]:
    def render(_node: dict[str, Any], _depth: int) -> str:
        return value

    return render


def _lines(node: dict[str, Any], depth: int) -> str:
    return _content(node, depth, "\n")


_HANDLERS: dict[str, Callable[[dict[str, Any], int], str]] = {
    "text": _text,
    "hardBreak": _constant("\n"),
    "mention": _mention,
    "emoji": _emoji,
    "inlineCard": _card,
    "blockCard": _card,
    "embedCard": _card,
    "status": _status,
    "date": _date,
    "placeholder": _constant(""),
    "media": _constant(_ATTACHMENT),
    "mediaInline": _constant(_ATTACHMENT),
    "mediaGroup": _lines,
    "mediaSingle": _lines,
    "codeBlock": _code_block,
    "rule": _constant("---"),
    "bulletList": _list,
    "orderedList": _list,
    "taskList": _task_list,
    "decisionList": _task_list,
    "blockquote": _blockquote,
    "table": _table,
    "expand": _expand,
    "nestedExpand": _expand,
}

#: Handled types whose text comes from their content (the flat walk reads that content itself).
_CONTAINER_TYPES = frozenset(
    {
        "mediaGroup",
        "mediaSingle",
        "bulletList",
        "orderedList",
        "taskList",
        "decisionList",
        "blockquote",
        "table",
        "expand",
        "nestedExpand",
        "codeBlock",
    }
)
