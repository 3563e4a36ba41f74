"""The OpenAPI document told the truth about errors: problem+json with the statuses we answer."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from agentconnect.errors import PROBLEM_JSON


class ProblemItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details, the shape of every error answer."""

    type: str = Field(examples=["https://agentconnect.dev/problems/not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["lead 0b6e... not found"])
    errors: list[ProblemItem] | None = None


_COMMON = {
    "401": "missing, invalid or expired bearer token",
    "403": "authenticated, but the role may not do this",
    "413": "request body larger than the configured limit",
    "422": "the request does not validate; `errors` names each field",
}
_WITH_ID = {"404": "no such resource in your company", "409": "the current state forbids it"}


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (ProblemItem, Problem):
            schemas[model.__name__] = model.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                statuses = dict(_COMMON)
                if "{" in path:
                    statuses.update(_WITH_ID)
                if not path.startswith("/api/"):
                    statuses = {}
                for status, description in statuses.items():
                    responses[status] = {"description": description, "content": problem}
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]
