"""Error bodies rendered by orjson (fast, and handles UUIDs and datetimes). Successful bodies do not come here: each
route returns a dict that FastAPI validates against the route's response_model and pydantic serialises (docs/api.md,
"Response models", says what that costs)."""

from __future__ import annotations

import orjson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    def render(self, content) -> bytes:
        return orjson.dumps(content)
