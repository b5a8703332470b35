"""The web app against hostile requests: no file outside the upload is ever read, image
bombs and non-HU CTs get a 4xx at upload, foreign Host headers are refused, what a killed
server left behind goes when the next one starts, and /docs works without a CDN."""
from __future__ import annotations

import io
import os
import time
import zipfile

import pytest

from livseg.serve import ServeSettings, create_app
from livseg.serve.app import STATIC
from livseg.serve.jobs import jobs_root
from tests.io import hostile_files as hostile

from .conftest import make_client


def _post(client, path):
    with open(path, "rb") as stream:
        return client.post("/api/jobs", files={"file": (path.name, stream)})


def test_headers_pointing_at_server_files_are_refused_at_upload(tmp_path):
    client = make_client(tmp_path)
    for make in (hostile.detached_mha, hostile.detached_nrrd):
        answer = _post(client, make(tmp_path))
        assert answer.status_code == 400
        assert "another file" in answer.json()["detail"]
        assert "root:" not in answer.text
    # a data file beside the header in the upload folder is refused too: uploads never
    # follow a header to another file
    folder = tmp_path / "pair"
    folder.mkdir()
    header = hostile.detached_mha(folder, "data.raw")
    (folder / "data.raw").write_bytes(bytes(256))
    answer = client.post("/api/jobs", files=[("file", ("a.mha", header.read_bytes())),
                                             ("file", ("data.raw", bytes(256)))])
    assert answer.status_code == 400
    assert not any((tmp_path / "jobs").iterdir())


def test_a_zip_with_a_detached_header_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ct/a.mha", hostile.detached_mha(tmp_path).read_bytes())
    buffer.seek(0)
    answer = make_client(tmp_path).post("/api/jobs", files={"file": ("ct.zip", buffer)})
    assert 400 <= answer.status_code < 500


def test_bombs_and_non_hu_cts_get_400_at_upload_in_seconds(tmp_path):
    client = make_client(tmp_path)
    cases = {hostile.nifti_bomb: "20000x20000", hostile.huge_dicom: "65535x65535",
             hostile.crc_corrupt: "gzip", hostile.unrescaled_ct: "rescale",
             hostile.nan_nifti: "NaN"}
    for make, words in cases.items():
        started = time.perf_counter()
        answer = _post(client, make(tmp_path))
        assert answer.status_code == 400 and words in answer.json()["detail"], answer.text
        assert time.perf_counter() - started < 10
    assert not any((tmp_path / "jobs").iterdir())


def test_the_server_has_its_own_voxel_budget(tmp_path, ct_file):
    client = make_client(tmp_path, max_voxels=1000)
    answer = _post(client, ct_file)
    assert answer.status_code == 400 and "budget" in answer.json()["detail"]


def test_a_foreign_host_is_refused_and_allowed_hosts_are_a_setting(tmp_path):
    client = make_client(tmp_path)
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/api/jobs/x", headers={"host": "evil.example:8000"}).status_code == 400
    for host in ("127.0.0.1:8000", "localhost", "[::1]:8000"):
        assert client.get("/", headers={"host": host}).status_code == 200, host
    allowing = make_client(tmp_path / "b", allowed_hosts=("ct.example.org",))
    assert allowing.get("/", headers={"host": "ct.example.org"}).status_code == 200


def test_stale_job_folders_of_a_previous_server_are_deleted_on_start(tmp_path):
    jobs = tmp_path / "jobs"
    stale = jobs / ("a" * 32)
    (stale / "input").mkdir(parents=True)
    (stale / "input" / "ct.nii.gz").write_bytes(b"left by a killed server")
    (jobs / "notes.txt").write_text("not a job folder: kept")
    create_app(ServeSettings(jobs_dir=jobs))
    assert not stale.exists() and (jobs / "notes.txt").exists()


def test_run_folders_of_servers_no_longer_running_are_deleted(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    base = tmp_path / f"livseg-serve-{os.getuid()}"
    (base / "run-999999999-abc").mkdir(parents=True)  # no such process
    alive = base / f"run-{os.getppid()}-abc"  # a running process: another server
    alive.mkdir()
    root = jobs_root(None)
    assert root.parent == base and root.name.startswith(f"run-{os.getpid()}-")
    assert not (base / "run-999999999-abc").exists() and alive.exists()


def test_the_api_page_uses_vendored_swagger_ui(tmp_path):
    client = make_client(tmp_path)
    page = client.get("/docs")
    if not (STATIC / "vendor" / "swagger-ui-bundle.js").is_file():
        assert page.status_code == 404 and "openapi.json" in page.json()["detail"]
        return
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui-bundle.js" in page.text and "cdn" not in page.text
    assert client.get("/static/vendor/swagger-ui-bundle.js").status_code == 200
    assert client.get("/redoc").status_code == 404  # ReDoc would need a CDN


def test_thousands_of_parts_of_one_name_are_parsed_off_the_event_loop(tmp_path):
    """Regression: 6,000 parts all named a.dcm (0.44 MB) froze the server for three
    minutes: the renaming of colliding names was quadratic and ran on the event loop."""
    import asyncio

    from livseg.serve.uploads import receive_files

    boundary = "b0undary"
    part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            "filename=\"a.dcm\"\r\n\r\nx\r\n").encode()
    body = part * 6000 + f"--{boundary}--\r\n".encode()
    (tmp_path / "in").mkdir()

    async def chunks():
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        beat = asyncio.create_task(ticker())
        started = time.perf_counter()
        written = await receive_files(f"multipart/form-data; boundary={boundary}", chunks(),
                                      tmp_path / "in", 10 * 2**20)
        elapsed = time.perf_counter() - started
        beat.cancel()
        return written, elapsed, ticks

    written, elapsed, ticks = asyncio.run(main())
    assert len(written) == 6000 and len({p.name for p in written}) == 6000
    assert {"a.dcm", "1_a.dcm", "5999_a.dcm"} <= {p.name for p in written}
    assert elapsed < 10.0
    assert ticks >= elapsed / 0.01 / 10  # the loop went on answering meanwhile


def _zip_with(members: dict[str, bytes], damage=None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    data = bytearray(buffer.getvalue())
    if damage is not None:
        damage(data)
    return bytes(data)


def test_damaged_zips_and_long_names_get_400_not_500(tmp_path):
    member = bytes(range(256)) * 64

    def flip_crc(data):  # the CRC in the local header and the central directory
        for at in (14, data.rindex(b"PK\x01\x02") + 16):
            data[at] ^= 0xFF

    def corrupt_stream(data):
        data[40:60] = bytes(20)

    client = make_client(tmp_path)
    uploads = {"crc.zip": _zip_with({"ct/a.dcm": member}, flip_crc),
               "deflate.zip": _zip_with({"ct/a.dcm": member}, corrupt_stream),
               "same.zip": _zip_with({"same.zip": member}),
               "long.zip": _zip_with({"ct/" + "n" * 300 + ".dcm": member}),
               "x" * 300 + ".nii.gz": b"\x1f\x8b" + bytes(100)}
    for name, data in uploads.items():
        answer = client.post("/api/jobs", files={"file": (name, data)})
        assert 400 <= answer.status_code < 500, (name[:20], answer.status_code, answer.text)
        assert "\n" not in answer.json()["detail"]
    assert not any((tmp_path / "jobs").iterdir())


def test_a_full_queue_answers_503_before_reading_the_upload(tmp_path, monkeypatch):
    """Regression: the 503 of a full queue came after the whole upload was read and
    decoded (16-33 s each in a burst of 30)."""
    import livseg.serve.app as served

    def never(*args, **kwargs):
        raise AssertionError("the body of a refused upload was read")

    client = make_client(tmp_path, max_queued=1)
    monkeypatch.setattr(served, "receive_files", never)
    with client.app.state.jobs.admission():  # an upload under way holds the one place
        answer = client.post("/api/jobs", files={"file": ("ct.nii.gz", b"x" * 1000)})
    assert answer.status_code == 503 and answer.headers["retry-after"] == "60"


def test_state_changing_requests_from_another_site_are_refused(tmp_path, ct_file):
    client = make_client(tmp_path)
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:9"},
                    {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        answer = client.post("/api/jobs", headers=headers,
                             files={"file": ("ct.nii.gz", ct_file.read_bytes())})
        assert answer.status_code == 403, headers
    assert not any((tmp_path / "jobs").iterdir())
    own = client.post("/api/jobs", headers={"Origin": "http://127.0.0.1",
                                             "Sec-Fetch-Site": "same-origin"},
                      files={"file": ("ct.nii.gz", ct_file.read_bytes())})
    assert own.status_code == 202


def test_a_request_head_sent_a_byte_at_a_time_is_cut_off(tmp_path):
    """Regression: a connection sending its headers slowly (slowloris) was never timed
    out. A whole request on the same connection before and after still works."""
    import socket

    from livseg.serve.protocol import HeaderDeadlineProtocol

    from .conftest import serving

    class Quick(HeaderDeadlineProtocol):
        header_timeout_s = 1.0

    with serving(create_app(ServeSettings(jobs_dir=tmp_path / "jobs")), Quick) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(b"GET /api/jobs/x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            started = time.perf_counter()
            slow.sendall(b"X-Slow: 1\r\n")
            assert slow.recv(1024) == b""  # closed by the server, no answer
            assert 0.8 < time.perf_counter() - started < 5
        with socket.create_connection(("127.0.0.1", port), timeout=10) as quick:
            for _ in range(2):  # keep-alive: the deadline starts again for each request
                quick.sendall(b"GET /api/jobs/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                answer = b""
                while not answer.endswith(b"}"):  # the head, then the JSON body
                    answer += quick.recv(4096)
                assert answer.startswith(b"HTTP/1.1 404")
                time.sleep(0.6)


def test_an_upload_is_read_in_a_child_bounded_in_memory_and_time(tmp_path, ct_file):
    """The first read of an upload runs in a process of its own: one that needs more
    memory or time than it is given is refused (422), and the server goes on."""
    from livseg.io import UPLOAD_LIMITS
    from livseg.serve.decode import DecodeFailed, decode_upload

    (tmp_path / "in").mkdir()
    upload = tmp_path / "in" / ct_file.name
    upload.write_bytes(ct_file.read_bytes())
    args = ([upload], tmp_path / "in", 2**30, UPLOAD_LIMITS, tmp_path / "ct.nii.gz")
    with pytest.raises(DecodeFailed, match="memory"):
        decode_upload(*args, memory_bytes=2**20)
    with pytest.raises(DecodeFailed, match="more than 0.001 s"):
        decode_upload(*args, seconds=0.001)
    assert not (tmp_path / "ct.nii.gz").exists()
    assert decode_upload(*args) == upload  # and with room, the same upload is read
    assert (tmp_path / "ct.nii.gz").is_file()
