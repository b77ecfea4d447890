"""The OpenAPI document at /openapi.json, completed with what FastAPI cannot see: the provider callbacks' bodies
(parsed by hand for the legacy error format), every error response in the v2 shape (FastAPI's 422 replaced by our
400) and the request id header. Schemathesis checks the running API against exactly this document."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from notify_pipelines.api.bodies import BODY_MODELS
from notify_pipelines.api.errors import ErrorResponse

ERROR_CODES = {
    "400": "Invalid request (one entry per problem)",
    "401": "Authentication missing",
    "403": "Authentication refused",
    "404": "Not found",
    "405": "Method not allowed",
    "413": "Request body too large",
    "431": "Request headers too large",
    "429": "Rate limit exceeded",
    "500": "Unexpected error",
    "503": "A dependency (database, S3) is unavailable",
}
REQUEST_ID_HEADER = {"X-Request-Id": {"description": "the request id (from the request, or made)",
                                      "schema": {"type": "string"}}}


def _add_schemas(components: dict, models) -> None:
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components.setdefault(model.__name__, schema)


# FastAPI has no setting for the validation status it documents (422, ours is 400): overriding `app.openapi`, as
# FastAPI's "Extending OpenAPI" guide does, is its supported way to change the document.
def build_openapi(app: FastAPI) -> dict:
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _add_schemas(schemas, [*BODY_MODELS, ErrorResponse])
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    for path, operations in doc.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for code, description in ERROR_CODES.items():
                responses.setdefault(code, {"description": description, "content": error_ref})
            for response in responses.values():
                response.setdefault("headers", {}).update(REQUEST_ID_HEADER)
    app.openapi_schema = doc
    return doc
