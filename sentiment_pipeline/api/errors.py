"""Errors as JSON with a message a person can act on: the Error model, the error responses
every /v1 route documents, the exception handlers, and the ``Limits`` middleware."""

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentiment_pipeline.api.nlq import NotUnderstood
from sentiment_pipeline.api.reads import BadRequest, NotFound

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024  # a question is at most 500 characters
MAX_QUERY = 4 * 1024


class Error(BaseModel):
    error: str = Field(examples=["bad_request"])
    message: str = Field(examples=["start 2025-01-03 is after end 2025-01-01"])
    understood: list[str] | None = Field(None, description="NLQ only: the phrases of the question that were placed")
    not_understood: list[str] | None = Field(None, description="NLQ only: the parts that could not be placed, and why")
    examples: list[str] | None = Field(None, description="NLQ only: close questions that would be answered")


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Error, "description": description}
    for status, description in {
        400: "a parameter cannot be answered (the message says what to change)",
        401: "missing, unknown or revoked API key",
        404: "no such table or ticket, or no data yet",
        413: f"request body over {MAX_BODY} bytes",
        414: f"query string over {MAX_QUERY} bytes",
        422: "a parameter or the body does not match this document, or a question has a part that cannot be placed",
        503: "storage did not answer",
    }.items()
}


def error_body(status: int, message: str) -> dict:
    return {"error": HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_"), "message": message}


def refusal(status: int, message: str) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status)


class Limits:
    """ASGI middleware: an over-long query string (414) or body (413) is refused before any parsing;
    a body is counted as it streams in, so one sent without a length is never read whole either."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if len(scope["query_string"]) > MAX_QUERY:
            return await refusal(414, f"query string over {MAX_QUERY} bytes: ask for less")(scope, receive, send)
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY:
            return await refusal(413, f"request body over {MAX_BODY} bytes")(scope, receive, send)
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY:
                raise StarletteHTTPException(413, f"request body over {MAX_BODY} bytes")
            return message

        return await self.app(scope, counted, send)


def register_error_handlers(app: FastAPI) -> None:
    """Every error becomes JSON ``{"error", "message"}``; no stack trace ever leaves the server."""

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, error: BadRequest) -> JSONResponse:
        return JSONResponse({"error": "bad_request", "message": str(error)}, status_code=400)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, error: NotFound) -> JSONResponse:
        return JSONResponse({"error": "not_found", "message": str(error)}, status_code=404)

    @app.exception_handler(NotUnderstood)
    async def not_understood(_: Request, error: NotUnderstood) -> JSONResponse:
        body = {"understood": error.understood, "not_understood": error.not_understood, "examples": error.examples}
        return JSONResponse({"error": "not_understood", "message": str(error), **body}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}" for e in error.errors())
        return JSONResponse({"error": "invalid_request", "message": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 401:
            return JSONResponse({"error": "unauthorized", "message": error.detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if error.status_code == 404:
            return JSONResponse({"error": "not_found", "message": "no such route; the routes are listed at /docs"}, status_code=404)
        return JSONResponse(error_body(error.status_code, str(error.detail)), status_code=error.status_code)

    @app.exception_handler(OSError)
    async def storage_down(_: Request, error: OSError) -> JSONResponse:
        log.exception("storage error")
        return JSONResponse({"error": "storage_unavailable", "message": "storage did not answer; try again shortly"}, status_code=503)

    @app.exception_handler(Exception)
    async def internal(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse({"error": "internal", "message": "internal error; the server log has the details"}, status_code=500)
