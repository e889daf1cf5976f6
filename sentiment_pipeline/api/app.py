"""The read API (FastAPI). ``create_app()`` builds it; ``sentiment-pipeline serve`` runs it.

Every ``/v1`` route needs ``Authorization: Bearer <key>``. Without the ``pii`` scope,
e-mail addresses and phone numbers are masked in every response. Query strings over
4 KiB (414) and request bodies over 16 KiB (413, counted as they stream in) are refused.
Identical reads are answered from a 5-minute TTL cache whose keys include each read
asset's change token, so a new materialization is visible on the next request. Errors are
JSON with a message a person can act on; no stack trace ever leaves the server.
"""

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from cachetools import TTLCache
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from sentiment_pipeline import __version__, settings
from sentiment_pipeline.api.deps import ApiState
from sentiment_pipeline.api.errors import Limits, register_error_handlers
from sentiment_pipeline.api.keys import KeyStore
from sentiment_pipeline.api.reads import Reader
from sentiment_pipeline.api.routers import analytics, dashboard, health, tables, tickets

CACHE_SECONDS = 300


def create_app(
    root: str | None = None, keys: KeyStore | None = None, cache_size: int = 4096, clock: Callable[[], datetime] | None = None
) -> FastAPI:
    """The app over ``root`` (default: SENTIMENT_STORAGE_ROOT); ``cache_size=0`` turns caching off;
    ``clock`` (default: the system's UTC time) says what "today" is to the NLQ route."""
    reader = Reader(settings.normalise_root(root) if root else settings.lake_roots().storage_root)
    app = FastAPIOffline(  # /docs and /redoc from the installed package's assets: no CDN, works offline
        title="sentiment_pipeline read API",
        version=__version__,
        description=__doc__,
        openapi_tags=[{"name": "health"}, {"name": "tables"}, {"name": "analytics"}, {"name": "tickets"}, {"name": "dashboard"}],
    )
    app.state.api = ApiState(
        reader=reader,
        keys=keys or KeyStore(),
        cache=TTLCache(maxsize=max(cache_size, 1), ttl=CACHE_SECONDS),
        lock=threading.Lock(),
        cache_size=cache_size,
        clock=clock or (lambda: datetime.now(UTC)),
    )
    app.add_middleware(Limits)
    register_error_handlers(app)
    for module in (health, tables, analytics, tickets, dashboard):
        app.include_router(module.router)
    return app
