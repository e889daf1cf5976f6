"""Shared fixtures: storage on a temporary folder, or on moto's S3 *server* on 127.0.0.1; a
webhook receiver and a throwaway PostgreSQL server on 127.0.0.1."""

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from moto.server import ThreadedMotoServer

from .services import throwaway_postgres


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real HTTP S3 endpoint on a free loopback port, stopped at the end of the session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster (Debian's binaries) on a free loopback port, removed at the
    end of the session; each test module uses its own databases in it."""
    with throwaway_postgres() as pg:
        yield pg


@pytest.fixture
def s3_env(moto_endpoint, monkeypatch):
    """AWS_* variables pointing at moto, and a fresh bucket; returns the bucket name."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def s3_storage(s3_env, monkeypatch):
    """Storage and landing roots both on moto's S3 server."""
    monkeypatch.setenv("SENTIMENT_STORAGE_ROOT", f"s3://{s3_env}/lake")
    monkeypatch.setenv("SENTIMENT_LANDING_ROOT", f"s3://{s3_env}/landing")
    return s3_env


@pytest.fixture
def local_storage(tmp_path, monkeypatch):
    """Storage root in a temporary folder (landing under it, as by default)."""
    root = tmp_path / "data"
    monkeypatch.setenv("SENTIMENT_STORAGE_ROOT", str(root))
    monkeypatch.delenv("SENTIMENT_LANDING_ROOT", raising=False)
    return root


@pytest.fixture
def webhook():
    """An HTTP server on a free loopback port recording each POSTed JSON body; a path
    ending in /500 answers 500."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(500 if self.path.endswith("/500") else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()
    thread.join()
