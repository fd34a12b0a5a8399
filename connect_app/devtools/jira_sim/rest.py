"""Jira Cloud REST v3 routes for what the app calls, with the spec's shapes and status codes.

Operations (``operationId`` from Atlassian's OpenAPI spec): getCurrentUser, getIssue, editIssue,
getComments, addComment, getComment, updateComment, deleteComment, getTransitions, doTransition,
getBulkPermissions, getMyPermissions, and issue/comment entity properties (get keys, get, set, delete).
Errors use Jira's ``ErrorCollection`` (``{"errorMessages": [...], "errors": {...}}``). The caller is
``g.principal`` (see :mod:`.app`); every handler runs under the state lock.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, request

from ...errors import BadRequestError, NotFoundError
from ...jira.adf import validate_adf
from . import render
from .auth import Principal
from .site import Site
from .state import GLOBAL_PERMISSIONS, PROJECT_PERMISSIONS, Comment, Issue, permission_kind
from .wiki import adf_to_wiki

ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
NOT_ON_SCREEN = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
NON_TEXT_NODES = frozenset({"mention", "emoji", "inlineCard", "media", "mediaSingle", "rule", "status",
                            "date"})
MAX_COMMENT_CHARS = 32_767
MAX_PROPERTY_BYTES = 32_768
MAX_PROPERTY_KEY = 255
SCOPE_FOR_METHOD = {"GET": "READ", "HEAD": "READ", "POST": "WRITE", "PUT": "WRITE", "DELETE": "DELETE"}
READ_ONLY_POSTS = ("/rest/api/3/permissions/check",)


class RestError(Exception):
    """An error answer in Jira's ``ErrorCollection`` shape."""

    def __init__(self, status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None,
                 note: str = "") -> None:
        super().__init__(f"{status}: {messages or errors}")
        self.status = status
        self.messages = messages or []
        self.errors = errors or {}
        self.note = note

    def response(self) -> Response:
        """The JSON response."""
        body = {"errorMessages": self.messages, "errors": self.errors}
        return Response(json.dumps(body), status=self.status, mimetype="application/json")


def required_scope(method: str, path: str) -> str:
    """The Connect scope a REST call needs (READ, WRITE or DELETE)."""
    if method == "POST" and path in READ_ONLY_POSTS:
        return "READ"
    return SCOPE_FOR_METHOD.get(method, "WRITE")


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response."""
    return Response(json.dumps(body), status=status, mimetype="application/json")


def empty(status: int) -> Response:
    """A response without a body (204, or 200/201 for entity properties as Jira answers them)."""
    return Response(b"", status=status)


def build_rest_blueprint(site: Site) -> Blueprint:
    """The ``/rest/api/3`` routes over ``site``."""
    bp = Blueprint("jira_sim_rest", __name__, url_prefix="/rest/api/3")
    state = site.state

    def locked(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            with state.lock:
                return view(*args, **kwargs)
        return wrapper

    def me() -> Principal:
        return g.principal

    def base() -> str:
        return site.base

    def visible_issue(id_or_key: str) -> Issue:
        issue = state.find_issue(id_or_key)
        if issue is None or not state.can_see(me().account_id, issue):
            raise RestError(404, [ISSUE_NOT_FOUND])
        return issue

    def has(permission: str, issue: Issue) -> bool:
        return state.has_project(me().account_id, permission, issue.project_key)

    def comment_on(issue: Issue, comment_id: str) -> Comment:
        comment = state.comments.get(comment_id)
        if comment is None or comment.issue_id != issue.id:
            raise RestError(404, [f"Can not find a comment for key: {comment_id}."])
        return comment

    # -- identity ------------------------------------------------------------------------------
    @bp.get("/myself")
    @locked
    def get_current_user() -> Response:
        return json_response(render.user_full(state.user(me().account_id), base()))

    # -- issues --------------------------------------------------------------------------------
    @bp.get("/issue/<id_or_key>")
    @locked
    def get_issue(id_or_key: str) -> Response:
        issue = visible_issue(id_or_key)
        fields = request.args.getlist("fields")
        expand = _csv(request.args.getlist("expand"))
        properties = _csv(request.args.getlist("properties"))
        transitions = [render.transition_json(state, t, base()) for t in state.transitions] \
            if "transitions" in expand and has("TRANSITION_ISSUES", issue) else []
        return json_response(render.issue_bean(state, issue, base(), fields=fields or None, expand=expand,
                                               properties=properties, transitions=transitions))

    @bp.put("/issue/<id_or_key>")
    @locked
    def edit_issue(id_or_key: str) -> Response:
        issue = visible_issue(id_or_key)
        data = _json_object()
        if not has("EDIT_ISSUES", issue):
            raise RestError(400, [], {"summary": "You do not have permission to edit this issue."})
        changes: dict[str, Any] = {}
        for name, value in (data.get("fields") or {}).items():
            changes[name] = _field_value(name, value)
        for name, operations in (data.get("update") or {}).items():
            for operation in operations or []:
                if isinstance(operation, dict) and "set" in operation:
                    changes[name] = _field_value(name, operation["set"])
                else:
                    raise RestError(400, [], {name: f"Field '{name}' supports only the 'set' operation."})
        try:
            site.edit(issue, me().account_id, changes)
        except (BadRequestError, NotFoundError) as exc:
            raise RestError(400, [], {next(iter(changes), "fields"): exc.message}) from exc
        if request.args.get("returnIssue") == "true":
            return json_response(render.issue_bean(state, issue, base()))
        return empty(204)

    # -- comments ------------------------------------------------------------------------------
    @bp.get("/issue/<id_or_key>/comment")
    @locked
    def get_comments(id_or_key: str) -> Response:
        issue = visible_issue(id_or_key)
        start_at = _int_arg("startAt", 0, minimum=0)
        max_results = _int_arg("maxResults", 100, minimum=0)
        order = request.args.get("orderBy", "created")
        if order not in ("created", "+created", "-created"):
            raise RestError(400, ["orderBy must be one of: created, +created, -created."])
        expand = _csv(request.args.getlist("expand"))
        comments = sorted(state.issue_comments(issue), key=lambda c: (c.created, int(c.id)),
                          reverse=order == "-created")
        page = comments[start_at:start_at + max_results]
        return json_response({
            "comments": [render.comment_json(state, c, base(), expand) for c in page],
            "maxResults": max_results, "total": len(comments), "startAt": start_at,
        })

    @bp.post("/issue/<id_or_key>/comment")
    @locked
    def add_comment(id_or_key: str) -> Response:
        issue = visible_issue(id_or_key)
        data = _json_object()
        if not has("ADD_COMMENTS", issue):
            raise RestError(403, ["You do not have the permission to comment on this issue."])
        body = _comment_body(data)
        visibility = _visibility(data.get("visibility"))
        properties = _entity_properties(data.get("properties"))
        comment = site.add_comment(issue, me().account_id, body, visibility=visibility, properties=properties)
        expand = _csv(request.args.getlist("expand"))
        return json_response(render.comment_json(state, comment, base(), expand), 201)

    @bp.get("/issue/<id_or_key>/comment/<comment_id>")
    @locked
    def get_comment(id_or_key: str, comment_id: str) -> Response:
        issue = visible_issue(id_or_key)
        comment = comment_on(issue, comment_id)
        expand = _csv(request.args.getlist("expand"))
        return json_response(render.comment_json(state, comment, base(), expand))

    @bp.put("/issue/<id_or_key>/comment/<comment_id>")
    @locked
    def update_comment(id_or_key: str, comment_id: str) -> Response:
        issue = visible_issue(id_or_key)
        comment = comment_on(issue, comment_id)
        data = _json_object()
        own = comment.author_id == me().account_id
        if not (has("EDIT_ALL_COMMENTS", issue) or (own and has("EDIT_OWN_COMMENTS", issue))):
            raise RestError(400, ["You do not have the permission to edit this comment."])
        body = _comment_body(data)
        visibility = _visibility(data.get("visibility")) if "visibility" in data else None
        if "properties" in data:
            comment.properties.update(_entity_properties(data.get("properties")))
        site.update_comment(issue, comment, me().account_id, body, visibility=visibility)
        expand = _csv(request.args.getlist("expand"))
        return json_response(render.comment_json(state, comment, base(), expand))

    @bp.delete("/issue/<id_or_key>/comment/<comment_id>")
    @locked
    def delete_comment(id_or_key: str, comment_id: str) -> Response:
        issue = visible_issue(id_or_key)
        comment = comment_on(issue, comment_id)
        own = comment.author_id == me().account_id
        if not (has("DELETE_ALL_COMMENTS", issue) or (own and has("DELETE_OWN_COMMENTS", issue))):
            raise RestError(400, ["You do not have the permission to delete this comment."])
        site.delete_comment(issue, comment)
        return empty(204)

    # -- transitions ---------------------------------------------------------------------------
    @bp.get("/issue/<id_or_key>/transitions")
    @locked
    def get_transitions(id_or_key: str) -> Response:
        issue = visible_issue(id_or_key)
        wanted = request.args.get("transitionId")
        ids = [t for t in state.transitions if wanted in (None, t)] if has("TRANSITION_ISSUES", issue) else []
        return json_response({"expand": "transitions",
                              "transitions": [render.transition_json(state, t, base()) for t in ids]})

    @bp.post("/issue/<id_or_key>/transitions")
    @locked
    def do_transition(id_or_key: str) -> Response:
        issue = visible_issue(id_or_key)
        data = _json_object()
        transition = data.get("transition")
        transition_id = transition.get("id") if isinstance(transition, dict) else None
        if transition_id in (None, ""):
            raise RestError(400, ["Missing 'transition' identifier"])
        if not has("TRANSITION_ISSUES", issue):
            raise RestError(400, ["You do not have permission to transition this issue."])
        if str(transition_id) not in state.transitions:
            raise RestError(400, [f"Transition id '{transition_id}' is not valid for this issue."])
        for name in (data.get("fields") or {}):
            if name != "resolution":
                raise RestError(400, [], {name: NOT_ON_SCREEN.format(name)})
        comments = _transition_comments(data.get("update") or {})
        site.transition(issue, str(transition_id), me().account_id)
        for body in comments:
            site.add_comment(issue, me().account_id, body)
        return empty(204)

    # -- permissions ---------------------------------------------------------------------------
    @bp.post("/permissions/check")
    @locked
    def get_bulk_permissions() -> Response:
        data = _json_object()
        caller = me()
        account_id = data.get("accountId") or caller.account_id
        if account_id != caller.account_id and caller.app_key is None \
                and not state.has_global(caller.account_id, "ADMINISTER"):
            raise RestError(403, ["Only Jira administrators can perform this operation."])
        global_wanted = [p for p in data.get("globalPermissions") or [] if p]
        entries = data.get("projectPermissions") or []
        bad = {p: "Unrecognized permission" for p in global_wanted if p not in GLOBAL_PERMISSIONS}
        for entry in entries:
            perms = [p for p in (entry.get("permissions") or []) if p] if isinstance(entry, dict) else []
            if not perms:
                raise RestError(400, ["At least one project permission must be provided."])
            bad.update({p: "Unrecognized permission" for p in perms if p not in PROJECT_PERMISSIONS})
        if bad:
            raise RestError(400, [], bad)
        granted_global = [p for p in dict.fromkeys(global_wanted) if state.has_global(account_id, p)]
        grants: dict[str, dict[str, list[int]]] = {}
        for entry in entries:
            projects = [state.project_by_id(str(p)) for p in entry.get("projects") or [] if p is not None]
            issues = [state.issues.get(str(i)) for i in entry.get("issues") or [] if i is not None]
            for perm in dict.fromkeys(p for p in entry["permissions"] if p):
                grant = grants.setdefault(perm, {"issues": [], "projects": []})
                for project in projects:
                    if project and state.has_project(account_id, perm, project.key) \
                            and int(project.id) not in grant["projects"]:
                        grant["projects"].append(int(project.id))
                for issue in issues:
                    if issue and state.has_project(account_id, perm, issue.project_key) \
                            and int(issue.id) not in grant["issues"]:
                        grant["issues"].append(int(issue.id))
        return json_response({
            "globalPermissions": granted_global,
            "projectPermissions": [{"permission": perm, "issues": g_["issues"], "projects": g_["projects"]}
                                   for perm, g_ in grants.items()],
        })

    @bp.get("/mypermissions")
    @locked
    def get_my_permissions() -> Response:
        keys = [k.strip() for k in (request.args.get("permissions") or "").split(",") if k.strip()]
        if not keys:
            raise RestError(400, ["The 'permissions' query parameter is required and must name at least one "
                                  "permission."])
        unknown = [k for k in keys if k not in PROJECT_PERMISSIONS and k not in GLOBAL_PERMISSIONS]
        if unknown:
            raise RestError(400, [f"Unrecognized permission: {unknown[0]}"])
        project_key = _permission_context()
        account = me().account_id
        out: dict[str, Any] = {}
        for key in keys:
            if permission_kind(key) == "GLOBAL":
                ident, name, description = GLOBAL_PERMISSIONS[key]
                have = state.has_global(account, key)
                kind = "GLOBAL"
            else:
                ident, name, description = PROJECT_PERMISSIONS[key]
                have = (state.has_project(account, key, project_key) if project_key
                        else state.has_in_any_project(account, key))
                kind = "PROJECT"
            out[key] = {"id": ident, "key": key, "name": name, "type": kind, "description": description,
                        "havePermission": have}
        return json_response({"permissions": out})

    def _permission_context() -> str | None:
        args = request.args
        if args.get("commentId"):
            keys = [k.strip() for k in (args.get("permissions") or "").split(",") if k.strip()]
            if keys != ["BROWSE_PROJECTS"]:
                raise RestError(400, ["Only the BROWSE_PROJECTS permission is supported with commentId."])
            comment = state.comments.get(args["commentId"])
            issue = state.issues.get(comment.issue_id) if comment else None
            if issue is None or not state.can_see(me().account_id, issue):
                raise RestError(404, ["The comment does not exist or you do not have permission to see it."])
            return issue.project_key
        if args.get("issueKey") or args.get("issueId"):
            return visible_issue(args.get("issueKey") or args["issueId"]).project_key
        if args.get("projectKey") or args.get("projectId"):
            project = (state.projects.get(args["projectKey"].upper()) if args.get("projectKey")
                       else state.project_by_id(args["projectId"]))
            if project is None or not state.has_project(me().account_id, "BROWSE_PROJECTS", project.key):
                ident = args.get("projectKey") or args.get("projectId")
                raise RestError(404, [f"No project could be found with key '{ident}'."])
            return project.key
        return None

    # -- issue properties ----------------------------------------------------------------------
    @bp.get("/issue/<id_or_key>/properties")
    @locked
    def get_issue_property_keys(id_or_key: str) -> Response:
        issue = visible_issue(id_or_key)
        prefix = f"{base()}/rest/api/3/issue/{issue.id}/properties/"
        return json_response({"keys": [{"key": k, "self": prefix + k} for k in issue.properties]})

    @bp.get("/issue/<id_or_key>/properties/<key>")
    @locked
    def get_issue_property(id_or_key: str, key: str) -> Response:
        issue = visible_issue(id_or_key)
        if key not in issue.properties:
            raise RestError(404, [f"The property with key '{key}' does not exist."])
        return json_response({"key": key, "value": issue.properties[key]})

    @bp.put("/issue/<id_or_key>/properties/<key>")
    @locked
    def set_issue_property(id_or_key: str, key: str) -> Response:
        issue = visible_issue(id_or_key)
        value = _property_value(key)
        if not has("EDIT_ISSUES", issue):
            raise RestError(403, ["You do not have permission to edit this issue."])
        created = key not in issue.properties
        issue.properties[key] = value
        return empty(201 if created else 200)

    @bp.delete("/issue/<id_or_key>/properties/<key>")
    @locked
    def delete_issue_property(id_or_key: str, key: str) -> Response:
        issue = visible_issue(id_or_key)
        if key not in issue.properties or not has("EDIT_ISSUES", issue):
            raise RestError(404, [f"The property with key '{key}' does not exist."])
        del issue.properties[key]
        return empty(204)

    # -- comment properties --------------------------------------------------------------------
    def visible_comment(comment_id: str) -> tuple[Issue, Comment]:
        comment = state.comments.get(comment_id)
        issue = state.issues.get(comment.issue_id) if comment else None
        if comment is None or issue is None or not state.can_see(me().account_id, issue):
            raise RestError(404, [f"Can not find a comment for key: {comment_id}."])
        return issue, comment

    def may_edit(issue: Issue, comment: Comment) -> bool:
        own = comment.author_id == me().account_id
        return has("EDIT_ALL_COMMENTS", issue) or (own and has("EDIT_OWN_COMMENTS", issue))

    @bp.get("/comment/<comment_id>/properties")
    @locked
    def get_comment_property_keys(comment_id: str) -> Response:
        _, comment = visible_comment(comment_id)
        prefix = f"{base()}/rest/api/3/comment/{comment.id}/properties/"
        return json_response({"keys": [{"key": k, "self": prefix + k} for k in comment.properties]})

    @bp.get("/comment/<comment_id>/properties/<key>")
    @locked
    def get_comment_property(comment_id: str, key: str) -> Response:
        _, comment = visible_comment(comment_id)
        if key not in comment.properties:
            raise RestError(404, [f"The property with key '{key}' does not exist."])
        return json_response({"key": key, "value": comment.properties[key]})

    @bp.put("/comment/<comment_id>/properties/<key>")
    @locked
    def set_comment_property(comment_id: str, key: str) -> Response:
        issue, comment = visible_comment(comment_id)
        value = _property_value(key)
        if not may_edit(issue, comment):
            raise RestError(403, ["You do not have permission to edit this comment."])
        created = key not in comment.properties
        comment.properties[key] = value
        return empty(201 if created else 200)

    @bp.delete("/comment/<comment_id>/properties/<key>")
    @locked
    def delete_comment_property(comment_id: str, key: str) -> Response:
        issue, comment = visible_comment(comment_id)
        if not may_edit(issue, comment):
            raise RestError(403, ["You do not have permission to edit this comment."])
        if key not in comment.properties:
            raise RestError(404, [f"The property with key '{key}' does not exist."])
        del comment.properties[key]
        return empty(204)

    return bp


# ---------------------------------------------------------------------- request parsing
def _csv(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _int_arg(name: str, default: int, *, minimum: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RestError(400, [f"The value '{raw}' is not valid for the parameter '{name}'."]) from None
    if value < minimum:
        raise RestError(400, [f"The value '{raw}' is not valid for the parameter '{name}'."])
    return value


def _require_json() -> None:
    if request.mimetype != "application/json":
        raise RestError(415, ["Unsupported Media Type: send the body as application/json."])


def _json_object() -> dict[str, Any]:
    _require_json()
    if not request.data:
        raise RestError(400, ["No content to map due to end-of-input"])
    try:
        data = json.loads(request.data)
    except ValueError:
        raise RestError(400, ["Unexpected character in the request body: it is not valid JSON."]) from None
    if not isinstance(data, dict):
        raise RestError(400, ["The request body must be a JSON object."])
    return data


def _comment_body(data: dict[str, Any]) -> dict[str, Any]:
    body = data.get("body")
    if body is None or body == "":
        raise RestError(400, [], {"comment": "Comment body can not be empty!"})
    if not isinstance(body, dict):
        raise RestError(400, [], {"comment": NOT_ADF})
    problems = validate_adf(body)
    if problems:
        raise RestError(400, [], {"comment": "Comment body is not valid!"}, note="; ".join(problems[:5]))
    text = adf_to_wiki(body)
    if not text.strip() and not _has_non_text(body):
        raise RestError(400, [], {"comment": "Comment body can not be empty!"})
    if len(text) > MAX_COMMENT_CHARS:
        raise RestError(400, [], {"comment": "The entered text is too long. It exceeds the allowed limit of "
                                             "32,767 characters."})
    return body


def _has_non_text(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    if node.get("type") in NON_TEXT_NODES:
        return True
    return any(_has_non_text(child) for child in node.get("content") or [])


def _visibility(value: Any) -> dict[str, Any] | None:
    if value in (None, {}):
        return None
    if not isinstance(value, dict) or value.get("type") not in ("group", "role") \
            or not (value.get("value") or value.get("identifier")):
        message = "Visibility needs a type of 'group' or 'role' and a value or identifier."
        raise RestError(400, [], {"commentLevel": message})
    return value


def _entity_properties(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise RestError(400, ["properties must be a list of {key, value} objects."])
    out: dict[str, Any] = {}
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise RestError(400, ["Each property needs a non-empty key."])
        _check_property(item["key"], item.get("value"))
        out[item["key"]] = item.get("value")
    return out


def _property_value(key: str) -> Any:
    _require_json()
    if not request.data:
        raise RestError(400, ["The property value must be a valid, non-empty JSON value."])
    try:
        value = json.loads(request.data)
    except ValueError:
        raise RestError(400, ["The property value must be a valid, non-empty JSON value."]) from None
    _check_property(key, value)
    return value


def _check_property(key: str, value: Any) -> None:
    if len(key) > MAX_PROPERTY_KEY:
        raise RestError(400, [f"The property key can not be longer than {MAX_PROPERTY_KEY} characters."])
    if len(json.dumps(value).encode("utf-8")) > MAX_PROPERTY_BYTES:
        raise RestError(400, [f"The property '{key}' is longer than {MAX_PROPERTY_BYTES} bytes."])


def _field_value(name: str, value: Any) -> Any:
    if name == "description" and value is not None:
        if not isinstance(value, dict):
            raise RestError(400, [], {"description": NOT_ADF})
        if validate_adf(value):
            raise RestError(400, [], {"description": "Description is not a valid Atlassian Document."},
                            note="; ".join(validate_adf(value)[:5]))
    if name == "priority" and isinstance(value, dict):
        return value.get("name")
    if name == "assignee":
        return value.get("accountId") if isinstance(value, dict) else None
    return value


def _transition_comments(update: dict[str, Any]) -> list[dict[str, Any]]:
    bodies = []
    for name, operations in update.items():
        if name != "comment":
            raise RestError(400, [], {name: NOT_ON_SCREEN.format(name)})
        for operation in operations or []:
            add = operation.get("add") if isinstance(operation, dict) else None
            if not isinstance(add, dict):
                raise RestError(400, [], {"comment": "Only the 'add' operation is supported for comment."})
            bodies.append(_comment_body(add))
    return bodies


