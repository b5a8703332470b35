"""A served app on a small phantom CT, with the shipped cascade or a stand-in."""
from __future__ import annotations

import contextlib
import threading
import time

import pytest
from fastapi.testclient import TestClient  # noqa: E402

from livseg.io import write_volume  # noqa: E402
from livseg.phantom import make_phantom  # noqa: E402
from livseg.serve import ServeSettings, create_app  # noqa: E402


@pytest.fixture(scope="session")
def ct_file(tmp_path_factory):
    """A 80x80x10 phantom CT (12 mm slices) in which the shipped cascade finds a tumour: small,
    so that the browser, load and API tests spend their time on the server, not the CT."""
    phantom = make_phantom(shape=(10, 80, 80), spacing=(3.5, 3.5, 12.0), n_tumours=2, seed=4)
    return write_volume(phantom.ct, tmp_path_factory.mktemp("serve") / "phantom.nii.gz")


def make_client(tmp_path, cascade_factory=None, **settings) -> TestClient:
    app = create_app(ServeSettings(jobs_dir=tmp_path / "jobs", **settings), cascade_factory)
    return TestClient(app, base_url="http://127.0.0.1")  # a Host the server trusts


def wait_for(client: TestClient, job_id: str, timeout_s: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get(f"/api/jobs/{job_id}").json()
        if status["status"] in ("done", "failed"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s} s")


@contextlib.contextmanager
def serving(app, protocol=None):
    """``app`` served by uvicorn on a free loopback port, in a thread, with the HTTP protocol
    ``livseg serve`` uses (or ``protocol``); yields its URL."""
    import uvicorn

    from livseg.serve.protocol import HeaderDeadlineProtocol

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                            http=protocol or HeaderDeadlineProtocol)
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    while not served.started:
        time.sleep(0.05)
    port = served.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    served.should_exit = True
    thread.join(10)
