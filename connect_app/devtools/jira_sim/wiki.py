"""Conversions Jira makes between its two text forms.

Webhooks carry REST v2 representations, where a comment body or an issue description is a
wiki-markup string (mentions as ``[~accountid:ID]``), while REST v3 speaks ADF. This module turns
ADF into that wiki markup, and plain test text (with ``[~accountid:ID]`` mentions) into ADF.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_MENTION_RE = re.compile(r"\[~accountid:([^\]\s]+)\]")
_MARK_WRAP = {"strong": "*", "em": "_", "strike": "-", "underline": "+"}


def adf_to_wiki(doc: Mapping[str, Any] | None) -> str:
    """Jira wiki markup for an ADF document, as webhooks show comment bodies and descriptions."""
    if not doc:
        return ""
    blocks = [_block(node, "") for node in doc.get("content") or []]
    return "\n\n".join(b for b in blocks if b is not None)


def _block(node: Mapping[str, Any], list_prefix: str) -> str | None:
    kind = node.get("type")
    content = node.get("content") or []
    if kind == "paragraph":
        return _inline_all(content)
    if kind == "heading":
        level = (node.get("attrs") or {}).get("level", 1)
        return f"h{level}. {_inline_all(content)}"
    if kind in ("bulletList", "orderedList"):
        marker = "*" if kind == "bulletList" else "#"
        return "\n".join(_list_item(item, list_prefix + marker) for item in content)
    if kind == "codeBlock":
        language = (node.get("attrs") or {}).get("language")
        head = f"{{code:{language}}}" if language else "{code}"
        return f"{head}{''.join(str(c.get('text', '')) for c in content)}{{code}}"
    if kind == "blockquote":
        inner = "\n\n".join(b for b in (_block(c, "") for c in content) if b is not None)
        return f"{{quote}}{inner}{{quote}}"
    if kind == "panel":
        panel_type = (node.get("attrs") or {}).get("panelType", "info")
        inner = "\n\n".join(b for b in (_block(c, "") for c in content) if b is not None)
        return f"{{panel:type={panel_type}}}{inner}{{panel}}"
    if kind == "rule":
        return "----"
    if kind == "table":
        return "\n".join(_table_row(row) for row in content)
    if content:
        return "\n\n".join(b for b in (_block(c, list_prefix) for c in content) if b is not None)
    return _inline(node)


def _list_item(item: Mapping[str, Any], prefix: str) -> str:
    lines: list[str] = []
    for child in item.get("content") or []:
        if child.get("type") in ("bulletList", "orderedList"):
            rendered = _block(child, prefix)
            if rendered:
                lines.append(rendered)
        else:
            text = _block(child, prefix) or ""
            lines.append(f"{prefix} {text}" if not lines else text)
    return "\n".join(lines) if lines else f"{prefix} "


def _table_row(row: Mapping[str, Any]) -> str:
    cells = row.get("content") or []
    parts = []
    for cell in cells:
        sep = "||" if cell.get("type") == "tableHeader" else "|"
        inner = " ".join(b for b in (_block(c, "") for c in cell.get("content") or []) if b)
        parts.append(f"{sep}{inner}")
    closing = "||" if cells and cells[-1].get("type") == "tableHeader" else "|"
    return "".join(parts) + closing


def _inline_all(nodes: list[Mapping[str, Any]]) -> str:
    return "".join(_inline(n) for n in nodes)


def _inline(node: Mapping[str, Any]) -> str:
    kind = node.get("type")
    attrs = node.get("attrs") or {}
    if kind == "text":
        return _apply_marks(str(node.get("text", "")), node.get("marks") or [])
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        return f"[~accountid:{attrs.get('id', '')}]"
    if kind == "emoji":
        return str(attrs.get("shortName") or attrs.get("text") or "")
    if kind == "inlineCard":
        url = attrs.get("url") or ""
        return f"[{url}|{url}|smart-link]" if url else ""
    if kind == "date":
        return str(attrs.get("timestamp", ""))
    if kind == "status":
        return str(attrs.get("text", ""))
    return _inline_all(node.get("content") or [])


def _apply_marks(text: str, marks: list[Mapping[str, Any]]) -> str:
    link = None
    for mark in marks:
        kind = mark.get("type")
        if kind == "code":
            text = f"{{{{{text}}}}}"
        elif kind in _MARK_WRAP:
            wrap = _MARK_WRAP[kind]
            text = f"{wrap}{text}{wrap}"
        elif kind == "link":
            link = (mark.get("attrs") or {}).get("href")
    return f"[{text}|{link}]" if link else text


def text_to_adf(text: str, display_name: Callable[[str], str | None]) -> dict[str, Any]:
    """An ADF document for plain text as a user would type it.

    Blank lines separate paragraphs, single newlines become hard breaks and ``[~accountid:ID]``
    becomes a mention node (its ``text`` is ``@`` + the display name from ``display_name``).
    """
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    content = []
    for paragraph in paragraphs:
        inline: list[dict[str, Any]] = []
        for index, line in enumerate(paragraph.split("\n")):
            if index:
                inline.append({"type": "hardBreak"})
            inline.extend(_line_nodes(line, display_name))
        content.append({"type": "paragraph", "content": inline})
    return {"type": "doc", "version": 1, "content": content}


def _line_nodes(line: str, display_name: Callable[[str], str | None]) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    position = 0
    for match in _MENTION_RE.finditer(line):
        if match.start() > position:
            nodes.append({"type": "text", "text": line[position:match.start()]})
        account_id = match.group(1)
        name = display_name(account_id)
        attrs = {"id": account_id, "text": f"@{name}" if name else "@unknown", "accessLevel": ""}
        nodes.append({"type": "mention", "attrs": attrs})
        position = match.end()
    if position < len(line):
        nodes.append({"type": "text", "text": line[position:]})
    return nodes
