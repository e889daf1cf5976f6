"""What the routes depend on: the per-app state, the caller's API key, the response cache,
and the query parameters several routes share."""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from cachetools import TTLCache
from fastapi import Depends, Header, HTTPException, Query, Request
from fastapi.responses import Response

from sentiment_pipeline.api.keys import ApiKey, KeyStore
from sentiment_pipeline.api.reads import Reader
from sentiment_pipeline.api.render import MEDIA_TYPES, Format

Built = bytes | tuple[bytes, dict[str, str]]  # a rendered body, or a body and its headers


@dataclass
class ApiState:
    """One app's reader, key store and response cache (``app.state.api``)."""

    reader: Reader
    keys: KeyStore
    cache: TTLCache
    lock: threading.Lock
    cache_size: int
    clock: Callable[[], datetime]  # now, in UTC: what "today" means to the NLQ route

    def cached(self, parts: tuple, assets: tuple[str, ...], key: ApiKey, fmt: Format, build: Callable[[], Built]) -> Response:
        """The rendered body (and headers, if ``build`` gives some) for these parameters and
        these versions of the assets read."""
        built = self.cached_body(parts, assets, key, fmt, build)
        body, headers = built if isinstance(built, tuple) else (built, None)
        return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)

    def cached_body(self, parts: tuple, assets: tuple[str, ...], key: ApiKey, fmt: Format, build: Callable[[], Built]) -> Built:
        identity = (parts, fmt, "pii" in key.scopes, self.reader.version(assets))
        with self.lock:
            built = self.cache.get(identity)
        if built is None:
            built = build()
            if self.cache_size:
                with self.lock:
                    self.cache[identity] = built
        return built


def get_state(request: Request) -> ApiState:
    return request.app.state.api


State = Annotated[ApiState, Depends(get_state)]


def caller(
    state: State,
    authorization: Annotated[
        str | None, Header(description="`Bearer <API key>` (make one with `sentiment-pipeline api-key create`)")
    ] = None,
) -> ApiKey:
    scheme, _, key = (authorization or "").partition(" ")
    found = state.keys.verify(key.strip()) if scheme.lower() == "bearer" and key.strip() else None
    if found is None:
        raise HTTPException(401, "missing, unknown or revoked API key: send `Authorization: Bearer <key>`")
    return found


Caller = Annotated[ApiKey, Depends(caller)]
Start = Annotated[
    str | None, Query(description="first day, YYYY-MM-DD (default: 30 days before end)", json_schema_extra={"format": "date"})
]
End = Annotated[str | None, Query(description="last day, YYYY-MM-DD (default: today, in UTC)", json_schema_extra={"format": "date"})]
Fmt = Annotated[Format, Query(alias="format", description="json, csv or parquet")]
