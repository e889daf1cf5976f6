"""``/health``: the one route without a key."""

from fastapi import APIRouter

from sentiment_pipeline import __version__, storage
from sentiment_pipeline.api.deps import State
from sentiment_pipeline.api.models import Health, Storage

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and whether storage answers (no key needed)")
def health(state: State) -> Health:
    reachable, detail = storage.probe(state.reader.root)
    return Health(status="ok", version=__version__, storage=Storage(root=state.reader.root, reachable=reachable, detail=detail))
