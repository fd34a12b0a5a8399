"""Atlassian Document Format (ADF): build, convert, validate and read the bodies of Jira comments.

The one import for the rest of the app:

- :func:`markdown_to_adf` / :func:`ensure_valid_adf`: an LLM's Markdown to a comment body;
- :func:`plain_text_adf`: the fallback body for plain text;
- :func:`validate_adf` / :func:`is_valid_adf`: checks against Atlassian's JSON schema, packaged as
  ``connect_app/specs/adf-full.json`` and loaded once, on first use;
- :func:`adf_to_text`: readable text from any comment body;
- tiny builders (:func:`doc`, :func:`paragraph`, :func:`text`, :func:`mention_node`, ...) for replies
  assembled in code.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from typing import Any

from jsonschema import Draft4Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from connect_app.errors import BadRequestError
from connect_app.jira.adf_from_markdown import (
    Node,
    clean_text,
    markdown_to_adf,
    plain_paragraphs,
    safe_href,
)
from connect_app.jira.adf_to_text import adf_to_text

__all__ = [
    "Node",
    "adf_to_text",
    "code_block",
    "doc",
    "ensure_valid_adf",
    "hard_break",
    "heading",
    "is_valid_adf",
    "link_mark",
    "markdown_to_adf",
    "mention_node",
    "paragraph",
    "plain_text_adf",
    "text",
    "validate_adf",
]

logger = logging.getLogger(__name__)

_MAX_ERRORS = 20
_MAX_MESSAGE = 240
_SIMPLE_MARKS = frozenset({"strong", "em", "strike", "code", "underline"})

# --- builders -------------------------------------------------------------------------------------------


def text(value: str, marks: Iterable[str | Mapping[str, Any]] = ()) -> Node:
    """A ``text`` node. ``marks`` are names ("strong", "em", "strike", "code", "underline") or mark dicts.

    Raises :class:`BadRequestError` if the text is empty once control characters are removed (the
    schema forbids empty text) or if ``code`` is combined with anything but a link.
    """
    cleaned = clean_text(value) if isinstance(value, str) else ""
    if not cleaned:
        raise BadRequestError("ADF text nodes need non-empty text")
    mark_nodes = [_mark(mark) for mark in marks]
    kinds = {mark["type"] for mark in mark_nodes}
    if "code" in kinds and kinds - {"code", "link"}:
        raise BadRequestError("the ADF code mark may only be combined with a link mark")
    node: Node = {"type": "text", "text": cleaned}
    if mark_nodes:
        node["marks"] = mark_nodes
    return node


def _mark(mark: str | Mapping[str, Any]) -> Node:
    if isinstance(mark, str):
        if mark not in _SIMPLE_MARKS:
            raise BadRequestError(f"unknown ADF mark {mark!r}; use one of {sorted(_SIMPLE_MARKS)} or a dict")
        return {"type": mark}
    if isinstance(mark, Mapping) and isinstance(mark.get("type"), str):
        return dict(mark)
    raise BadRequestError("an ADF mark must be a mark name or a dict with a 'type'")


def link_mark(href: str, title: str | None = None) -> Node:
    """A ``link`` mark; only http(s) URLs with a host and mailto: addresses are accepted."""
    safe = safe_href(href) if isinstance(href, str) else None
    if safe is None:
        raise BadRequestError("ADF links must be http(s) URLs with a host or mailto: addresses")
    attrs = {"href": safe}
    if title:
        attrs["title"] = clean_text(title)
    return {"type": "link", "attrs": attrs}


def hard_break() -> Node:
    """A ``hardBreak`` (line break inside a paragraph)."""
    return {"type": "hardBreak"}


def mention_node(account_id: str, text: str) -> Node:
    """A ``mention`` of an Atlassian account; ``text`` is the display name (an "@" is added if missing)."""
    if not isinstance(account_id, str) or not account_id.strip():
        raise BadRequestError("a mention needs the user's accountId")
    attrs = {"id": clean_text(account_id).strip()}
    name = clean_text(text).strip() if isinstance(text, str) else ""
    if name:
        attrs["text"] = name if name.startswith("@") else f"@{name}"
    return {"type": "mention", "attrs": attrs}


def paragraph(*inlines: Node | str) -> Node:
    """A ``paragraph``; strings become plain text nodes (empty strings are skipped)."""
    return {"type": "paragraph", "content": _inline_content(inlines)}


def heading(level: int, *inlines: Node | str) -> Node:
    """A ``heading`` of ``level`` 1-6; strings become plain text nodes."""
    if not isinstance(level, int) or not 1 <= level <= 6:
        raise BadRequestError("ADF heading levels run from 1 to 6")
    return {"type": "heading", "attrs": {"level": level}, "content": _inline_content(inlines)}


def code_block(code: str, language: str | None = None) -> Node:
    """A ``codeBlock``, with a ``language`` attribute when given."""
    cleaned = clean_text(code) if isinstance(code, str) else ""
    node: Node = {"type": "codeBlock", "content": [{"type": "text", "text": cleaned}] if cleaned else []}
    if language:
        node["attrs"] = {"language": clean_text(language).strip()}
    return node


def doc(*blocks: Node) -> Node:
    """An ADF ``doc`` (version 1) of the given block nodes."""
    for block in blocks:
        if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
            raise BadRequestError("doc() takes ADF block nodes (dicts with a 'type')")
    return {"type": "doc", "version": 1, "content": [dict(block) for block in blocks]}


def _inline_content(inlines: Iterable[Node | str]) -> list[Node]:
    content: list[Node] = []
    for inline in inlines:
        if isinstance(inline, str):
            if clean_text(inline):
                content.append(text(inline))
        elif isinstance(inline, Mapping) and isinstance(inline.get("type"), str):
            content.append(dict(inline))
        else:
            raise BadRequestError("inline content must be ADF inline nodes or strings")
    return content


def plain_text_adf(text: str) -> Node:
    """A valid ADF doc of plain paragraphs: blank lines separate paragraphs, newlines are hard breaks."""
    if not isinstance(text, str):
        raise BadRequestError(f"plain_text_adf expects a str, got {type(text).__name__}")
    return {"type": "doc", "version": 1, "content": plain_paragraphs(text)}


# --- validation -----------------------------------------------------------------------------------------


@functools.cache
def _validator() -> Draft4Validator:
    """A Draft-04 validator over Atlassian's ADF schema, built once on first use (see :func:`_any_of`)."""
    schema_text = resources.files("connect_app").joinpath("specs/adf-full.json").read_text("utf-8")
    schema = json.loads(schema_text)
    definitions = schema.get("definitions", {})
    keywords = {
        "anyOf": functools.partial(_any_of, _NodeTypes(definitions)),
        "$ref": functools.partial(_local_ref, definitions),
    }
    return validators.extend(Draft4Validator, keywords)(schema)


def _local_ref(
    definitions: Mapping[str, Any], validator: Any, ref: str, instance: object, schema: Any
) -> Iterator[ValidationError]:
    """``$ref`` to ``#/definitions/<name>`` read straight from the schema (every ref ADF has)."""
    name = ref.removeprefix("#/definitions/") if isinstance(ref, str) else ""
    target = definitions.get(name) if name and name != ref else None
    if target is None:
        yield from Draft4Validator.VALIDATORS["$ref"](validator, ref, instance, schema)
        return
    yield from validator.descend(instance, target)


class _NodeTypes:
    """Which ``type`` values a subschema can accept (None: it does not say), resolved through $ref."""

    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self._definitions = definitions
        self._by_ref: dict[str, frozenset[str] | None] = {}
        self._candidates: dict[tuple[int, str], list[tuple[int, Any]]] = {}

    def candidates(self, any_of: list[Any], kind: str) -> list[tuple[int, Any]]:
        """The (index, subschema) alternatives of ``any_of`` that may accept a node of type ``kind``."""
        key = (id(any_of), kind)  # the anyOf lists belong to the schema, which outlives this cache
        if key not in self._candidates:
            self._candidates[key] = [
                (index, sub) for index, sub in enumerate(any_of) if _may_accept(self.of(sub), kind)
            ]
        return self._candidates[key]

    def of(self, subschema: object) -> frozenset[str] | None:
        """The ``type`` values ``subschema`` accepts, or None when it does not restrict them."""
        if not isinstance(subschema, Mapping):
            return None
        ref = subschema.get("$ref")
        if isinstance(ref, str):  # draft 4: keywords beside $ref are ignored
            if ref not in self._by_ref:
                self._by_ref[ref] = None  # a cycle resolves to "does not say"
                name = ref.removeprefix("#/definitions/")
                self._by_ref[ref] = self.of(self._definitions.get(name)) if name != ref else None
            return self._by_ref[ref]
        found: frozenset[str] | None = None
        enum = subschema.get("properties", {}).get("type", {}).get("enum")
        if isinstance(enum, list) and all(isinstance(value, str) for value in enum):
            found = frozenset(enum)
        for part in subschema.get("allOf", []):
            part_types = self.of(part)
            if part_types is not None:
                found = part_types if found is None else found & part_types
        return found


def _any_of(
    node_types: _NodeTypes, validator: Any, any_of: list[Any], instance: object, schema: Any
) -> Iterator[ValidationError]:
    """``anyOf`` with the same verdict as jsonschema's, in linear rather than exponential time.

    jsonschema collects every error of every alternative, so each level of nesting multiplies the
    work. Here alternatives that cannot accept the node's ``type`` are skipped (their ``type`` enum
    would reject it), the rest are probed up to their first error, and the full errors are only
    collected when no alternative fits, for the message.
    """
    kind = instance.get("type") if isinstance(instance, dict) else None
    if isinstance(kind, str):
        candidates = node_types.candidates(any_of, kind)
        if not candidates:
            yield ValidationError(f"type {kind!r} is not allowed here")
            return
    else:
        candidates = list(enumerate(any_of))
    for index, subschema in candidates:
        if next(validator.descend(instance, subschema, schema_path=index), None) is None:
            return
    context = [
        error
        for index, subschema in candidates
        for error in validator.descend(instance, subschema, schema_path=index)
    ]
    what = f"this {kind!r} node" if isinstance(kind, str) else _shorten(repr(instance))
    yield ValidationError(f"{what} does not match the schema", context=context)


def _may_accept(types: frozenset[str] | None, kind: str) -> bool:
    return types is None or kind in types


def validate_adf(doc: object) -> list[str]:
    """Schema errors for ``doc`` as readable strings ("content/0/content/1: ..."); empty when valid."""
    try:
        errors = sorted(_validator().iter_errors(doc), key=lambda error: list(map(str, error.absolute_path)))
    except RecursionError:
        return ["(root): the document nests too deeply to validate"]
    return [_describe(error) for error in errors[:_MAX_ERRORS]]


def _describe(error: ValidationError) -> str:
    """Where the error is and, for anyOf failures, the most specific reason found below it."""
    cause = error
    while cause.context:
        closest = best_match(cause.context)
        if closest is None:
            break
        cause = closest
    if cause is error:
        return f"{_path(error)}: {_shorten(error.message)}"
    return f"{_path(error)}: {_shorten(error.message)}; {_path(cause)}: {_shorten(cause.message)}"


def _path(error: ValidationError) -> str:
    return "/".join(str(part) for part in error.absolute_path) or "(root)"


def _shorten(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


def is_valid_adf(doc: object) -> bool:
    """Whether ``doc`` validates against Atlassian's ADF schema."""
    try:
        return bool(_validator().is_valid(doc))
    except RecursionError:
        return False


def ensure_valid_adf(markdown: str) -> Node:
    """``markdown_to_adf(markdown)`` if that validates, else :func:`plain_text_adf`; never raises."""
    source = markdown if isinstance(markdown, str) else ("" if markdown is None else str(markdown))
    try:
        converted = markdown_to_adf(source)
        problems = validate_adf(converted)
        if not problems:
            return converted
        logger.warning("markdown_to_adf gave invalid ADF (%s); posting plain text", problems[0])
    except Exception:  # the safety net: a reply must still go out
        logger.exception("markdown_to_adf failed; posting plain text")
    return plain_text_adf(source)
