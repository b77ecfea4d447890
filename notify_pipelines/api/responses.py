"""JSON responses rendered by orjson (fast, and handles UUIDs and datetimes). FastAPI's JsonResponse is
deprecated in favour of response-model serialisation, which would validate every body again; we build bodies
ourselves and document them with response_model."""

from __future__ import annotations

import orjson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    def render(self, content) -> bytes:
        return orjson.dumps(content)
