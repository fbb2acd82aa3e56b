"""What the gateway's OpenAPI document adds to FastAPI's: how a key is sent (security schemes, on the
operations that need or take one) and the errors each operation really answers — 401, 403, 413, 422, 429,
503 — as RFC 9457 problem bodies (`application/problem+json`, see `gateway.problems`).

Read off each route's dependencies (`auth.caller`, `auth.optional_caller`, `auth.needs`), its method, its
parameters and its body: the document says what the code does, and changes with it. Nothing here runs on a
request but GET /openapi.json (once; FastAPI keeps the document).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel, Field

from gateway.api_keys import Role
from gateway.auth import CSRF_HEADER, KEY_COOKIE, ROLE_CHECKS, SAFE_METHODS, caller, optional_caller
from gateway.problems import PROBLEM
from gateway.routes import admitted_submitter
from gateway.schemas import Problem

SCHEMES: dict[str, dict[str, Any]] = {
    "bearerKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key as `Authorization: Bearer <key>`.",
    },
    "apiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key as `X-API-Key: <key>` (the same keys as bearerKey).",
    },
    "dashboardCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": KEY_COOKIE,
        "description": "The dashboard's login cookie (set by POST /ui/login). A request it authenticates "
        f"with another method than GET or HEAD must also carry `{CSRF_HEADER}: 1`, or it gets 403.",
    },
}
ANY_KEY: list[dict[str, list[str]]] = [{name: []} for name in SCHEMES]
"""Any one of the schemes (OpenAPI: the entries of a `security` list are alternatives)."""
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
}
RATE_LIMITED_BY: frozenset[Callable[..., object]] = frozenset({admitted_submitter})
"""Dependencies whose route may answer 429 (a key's submission rate, an owner's live jobs)."""


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: `body`, `query`, `path` or `header`, then the field.")
    msg: str
    type: str


class ValidationProblem(Problem):
    """A request the gateway cannot take (422): `detail` names the bad fields, `errors` lists each."""

    errors: list[FieldError] = Field(default_factory=list)
    more_errors: int | None = Field(
        default=None, description="How many errors there were beyond the first 20 that `errors` lists."
    )


def document_errors_and_keys(app: FastAPI, *, auth: bool, max_body_bytes: int) -> None:
    """Make `app.openapi()` return FastAPI's document with the security schemes (when `auth`) and every
    operation's error answers."""
    generate = app.openapi
    amended: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        document = generate()
        if not amended or amended[0] is not document:  # FastAPI made it anew (a route was added)
            _amend(document, app, auth=auth, max_body_bytes=max_body_bytes)
            amended[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to change the document


def _amend(document: dict[str, Any], app: FastAPI, *, auth: bool, max_body_bytes: int) -> None:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.setdefault("Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}"))
    shape = ValidationProblem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(shape.pop("$defs", {}))
    schemas["ValidationProblem"] = shape
    if auth:
        components["securitySchemes"] = SCHEMES
    for route in iter_route_contexts(app.routes):  # every route as included (prefixes applied)
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            operation = document["paths"].get(route.path_format, {}).get(method.lower())
            if operation is not None:
                _amend_operation(document, operation, route, method, auth=auth, max_body_bytes=max_body_bytes)
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shape, replaced above
        if not _uses(document, unused):
            schemas.pop(unused, None)


def _amend_operation(
    document: dict[str, Any],
    operation: dict[str, Any],
    route: RouteContext,
    method: str,
    *,
    auth: bool,
    max_body_bytes: int,
) -> None:
    calls = set(_calls(route.dependant))
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for answer in responses.values():  # a problem body is application/problem+json, whatever FastAPI said
        content = answer.get("content", {})
        if [media.get("schema") for media in content.values()] == [_ref("Problem")]:
            answer["content"] = {PROBLEM: {"schema": _ref("Problem")}}
    takes_key = caller in calls or optional_caller in calls
    if auth and takes_key:
        operation["security"] = ANY_KEY if caller in calls else [{}, *ANY_KEY]
    if auth and caller in calls:
        _problem(
            responses,
            401,
            "No valid API key: none was sent, or it is unknown or revoked.",
            {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
        )
    if auth and (refusals := _refusals(route, method, calls, takes_key, _names_owner(document, operation))):
        _problem(responses, 403, " ".join(refusals))
    if "requestBody" in operation:
        _problem(responses, 413, f"The body is larger than {max_body_bytes} bytes (MAX_BODY_BYTES).")
        _problem(
            responses, 415, "The body was sent with a Content-Encoding: the gateway takes bodies unencoded."
        )
    if "422" in responses or route.dependant.body_params:
        responses["422"] = {
            "description": "Invalid request: `detail` names the bad fields, `errors` lists each of them.",
            "content": {PROBLEM: {"schema": _ref("ValidationProblem")}},
        }
    if "429" in responses or calls & RATE_LIMITED_BY:
        description = responses.get("429", {}).get("description") or (
            "Over the key's submission rate or the owner's number of live jobs (SUBMIT_RATE_PER_S, "
            "SUBMIT_BURST, MAX_ACTIVE_JOBS)."
        )
        responses.pop("429", None)
        _problem(responses, 429, description, RETRY_AFTER)
    if "503" not in responses:
        _problem(responses, 503, "The job store (Redis) is unavailable; try again.", RETRY_AFTER)


def _refusals(
    route: RouteContext, method: str, calls: set[Callable[..., object]], takes_key: bool, body_owner: bool
) -> list[str]:
    """Why a key may be refused (403) by this operation."""
    reasons = []
    roles = [role for role in Role if role in {ROLE_CHECKS[call] for call in calls if call in ROLE_CHECKS}]
    if roles:
        needed = "an admin key" if roles[-1] == Role.ADMIN else f"a {roles[-1]} or admin key"
        reasons.append(f"The key's role does not allow this: it needs {needed}.")
    names_owner = body_owner or any(param.alias == "owner" for param in _query_params(route.dependant))
    if names_owner and Role.ADMIN not in roles:  # only admin keys may name another owner
        reasons.append("A key other than an admin's named another `owner` than its own.")
    if takes_key and method not in SAFE_METHODS:
        reasons.append(f"The dashboard's cookie authenticated it without the header `{CSRF_HEADER}: 1`.")
    return reasons


def _problem(
    responses: dict[str, Any], status: int, description: str, headers: dict[str, Any] | None = None
) -> None:
    answer: dict[str, Any] = {"description": description, "content": {PROBLEM: {"schema": _ref("Problem")}}}
    if headers:
        answer["headers"] = headers
    responses.setdefault(str(status), answer)


def _calls(dependant: Dependant) -> Iterator[Callable[..., object]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _query_params(dependant: Dependant) -> Iterator[Any]:
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_params(sub)


def _names_owner(document: dict[str, Any], operation: dict[str, Any]) -> bool:
    """Whether the operation's body has an `owner` field, at any depth."""
    schemas = document.get("components", {}).get("schemas", {})
    pending = [operation.get("requestBody", {})]
    seen: set[str] = set()
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref not in seen:
                seen.add(ref)
                pending.append(schemas.get(ref.rsplit("/", 1)[-1], {}))
            if "owner" in item.get("properties", {}):
                return True
            pending.extend(item.values())
    return False


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _uses(document: dict[str, Any], name: str) -> bool:
    return json.dumps(_ref(name)["$ref"]) in json.dumps(document)
