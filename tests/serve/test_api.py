"""The job API: upload, progress, results on the input's grid, and every refusal."""
from __future__ import annotations

import hashlib
import io
import threading
import zipfile

import numpy as np

from livseg.cli import build_parser
from livseg.io import read_volume
from livseg.weights import listed_checksums

from ..conftest import shared_file
from .conftest import make_client, wait_for


def _upload(client, path, name=None):
    with open(path, "rb") as stream:
        return client.post("/api/jobs", files={"file": (name or path.name, stream)})


def test_upload_poll_and_download_the_results(tmp_path, ct_file):
    client = make_client(tmp_path)
    answer = _upload(client, ct_file)
    assert answer.status_code == 202
    status = wait_for(client, answer.json()["id"])
    assert status["status"] == "done" and status["progress"] == 1.0 and status["error"] is None
    assert {"segmentation.nii.gz", "report.json", "overlay.png", "liver.stl"} <= set(
        status["files"])
    base = f"/api/jobs/{answer.json()['id']}"
    (tmp_path / "seg.nii.gz").write_bytes(client.get(f"{base}/segmentation.nii.gz").content)
    labels = read_volume(tmp_path / "seg.nii.gz")
    assert labels.same_grid(read_volume(ct_file)) and set(np.unique(labels.array)) <= {0, 1, 2}
    report = client.get(f"{base}/report.json").json()
    assert report["liver_volume_ml"] > 0 and report["lesion_count"] == len(report["lesions"])
    (tmp_path / "ct.nii.gz").write_bytes(client.get(f"{base}/ct.nii.gz").content)
    assert (read_volume(tmp_path / "ct.nii.gz").array == read_volume(ct_file).array).all()
    for name in ("%2e%2e", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%5c..%5creport.json"):
        answer = client.get(f"{base}/{name}")  # percent-encoded: no client normalises it
        assert answer.request.url.raw_path.endswith(name.encode()), answer.request.url
        assert answer.status_code == 404
    assert client.get(f"{base}/notes.txt").status_code == 404
    assert client.get("/api/jobs/unknown").status_code == 404


def test_an_upload_over_the_limit_is_refused_before_it_is_stored(tmp_path):
    client = make_client(tmp_path, max_upload_mb=0.5)
    big = io.BytesIO(bytes(700_000))
    answer = client.post("/api/jobs", files={"file": ("big.nii.gz", big)})
    assert answer.status_code == 413 and "0.5 MB" in answer.json()["detail"]
    # without a Content-Length (chunked): counted while streaming
    body = (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.nii\"\r\n\r\n"
            + bytes(700_000) + b"\r\n--xyz--\r\n")
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
    answer = client.post("/api/jobs", content=chunks,
                         headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert answer.status_code == 413
    assert not any((tmp_path / "jobs").iterdir())  # nothing of either upload is kept


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


def test_bad_uploads_get_a_clear_4xx(tmp_path):
    client = make_client(tmp_path)
    cases = {
        "outside.zip": (_zip({"../evil.dcm": b"x"}), "outside the archive"),
        "bomb.zip": (_zip({"a.dcm": bytes(60 * 2**20)}), "zip bomb"),
        "notes.nii.gz": (io.BytesIO(b"not a CT at all"), "notes.nii.gz: is not a gzip"),
        "broken.zip": (io.BytesIO(b"PK\x03\x04 truncated"), "not a readable zip"),
        "text.zip": (_zip({"series/readme.txt": b"hello"}), "no DICOM image series"),
    }
    for name, (data, message) in cases.items():
        answer = client.post("/api/jobs", files={"file": (name, data)})
        assert 400 <= answer.status_code < 500, name
        assert message in answer.json()["detail"], (name, answer.json())
    answer = client.post("/api/jobs", data={"other": "1"})
    assert answer.status_code in (400, 415)
    assert not any((tmp_path / "jobs").iterdir())


def test_a_zip_or_the_files_of_a_dicom_series(tmp_path):
    folder = shared_file("dcmqi_ct3slice/dicom")
    client = make_client(tmp_path)
    archive = _zip({f"ct/{p.name}": p.read_bytes() for p in sorted(folder.glob("*.dcm"))})
    first = client.post("/api/jobs", files={"file": ("series.zip", archive)})
    files = [("file", (p.name, p.read_bytes())) for p in sorted(folder.glob("*.dcm"))]
    second = client.post("/api/jobs", files=files)
    for answer in (first, second):
        assert answer.status_code == 202, answer.json()
        assert wait_for(client, answer.json()["id"])["status"] == "done"


class _Blocking:
    """A cascade that waits until released (to fill the queue) or fails (to break a job)."""

    def __init__(self, fail=False):
        from livseg.infer import CascadeSettings

        self.release, self.fail = threading.Event(), fail
        self.settings = CascadeSettings()  # the report records the settings that made it

    def segment(self, volume, progress=None):
        if self.fail:
            raise RuntimeError("a bug")
        self.release.wait(30)
        from livseg.infer import Cascade

        return Cascade.shipped().segment(volume, progress)


def test_a_full_queue_refuses_and_the_server_stays_responsive(tmp_path, ct_file):
    cascade = _Blocking()
    client = make_client(tmp_path, cascade_factory=lambda: cascade, max_queued=1)
    answers = [_upload(client, ct_file) for _ in range(4)]
    codes = [a.status_code for a in answers]
    assert codes.count(503) >= 1 and codes[0] == 202  # one runs, one waits, the rest refused
    assert answers[codes.index(503)].headers["retry-after"] == "60"
    assert client.get("/").status_code == 200  # still answering
    cascade.release.set()
    for answer in answers:
        if answer.status_code == 202:
            assert wait_for(client, answer.json()["id"])["status"] == "done"


def test_a_failing_job_does_not_stop_the_server(tmp_path, ct_file):
    broken = _Blocking(fail=True)
    client = make_client(tmp_path, cascade_factory=lambda: broken)
    status = wait_for(client, _upload(client, ct_file).json()["id"])
    assert status["status"] == "failed" and "internal error" in status["error"]
    broken.fail = False
    broken.release.set()
    assert wait_for(client, _upload(client, ct_file).json()["id"])["status"] == "done"


def test_finished_jobs_are_deleted_after_their_time_to_live(tmp_path, ct_file):
    client = make_client(tmp_path, ttl_s=3600)
    job_id = _upload(client, ct_file).json()["id"]
    wait_for(client, job_id)
    store = client.app.state.jobs
    assert store.expire() == 0 and (tmp_path / "jobs" / job_id).exists()
    import time

    assert store.expire(now=time.time() + 3601) == 1
    assert not (tmp_path / "jobs" / job_id).exists()
    assert client.get(f"/api/jobs/{job_id}").status_code == 404


def test_openapi_page_and_models_are_served(tmp_path):
    client = make_client(tmp_path)
    assert "/api/jobs" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "niivue" in page.text
    assert page.headers["cross-origin-opener-policy"] == "same-origin"
    model = client.get("/models/liver.onnx").content
    assert hashlib.sha256(model).hexdigest() == listed_checksums()["onnx/liver.onnx"]
    assert client.get("/models/liver.json").json()["stage"] == "liver"
    for name in ("%2e%2e%2fSHA256SUMS", "%2e%2e"):
        answer = client.get(f"/models/{name}")
        assert answer.request.url.raw_path.endswith(name.encode())
        assert answer.status_code == 404 and b"SHA256" not in answer.content[:64]


def test_serve_listens_on_loopback_by_default():
    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1" and args.port == 8000 and args.max_upload_mb == 1024


def test_the_example_ct_is_the_packaged_real_ct_and_segments_like_an_upload(tmp_path):
    from livseg.data import EXAMPLE_CT, EXAMPLE_FILES

    client = make_client(tmp_path)
    example = client.get("/example/ct.nii.gz")
    assert example.status_code == 200
    assert example.content == (EXAMPLE_CT / EXAMPLE_FILES[0]).read_bytes()
    (tmp_path / "example.nii.gz").write_bytes(example.content)
    answer = _upload(client, tmp_path / "example.nii.gz")
    assert answer.status_code == 202
    status = wait_for(client, answer.json()["id"])
    assert status["status"] == "done", status["error"]
    report = client.get(f"/api/jobs/{answer.json()['id']}/report.json").json()
    assert 500 < report["liver_volume_ml"] < 2500  # a whole adult liver


def test_two_finished_jobs_compare_and_their_files_download(tmp_path, ct_file):
    client = make_client(tmp_path)
    ids = [_upload(client, ct_file).json()["id"] for _ in range(2)]
    assert all(wait_for(client, job)["status"] == "done" for job in ids)
    answer = client.post("/api/compare", json={"baseline": ids[0], "followup": ids[1]})
    assert answer.status_code == 200, answer.json()
    comparison = answer.json()
    assert comparison["format"] == "livseg-comparison"
    assert comparison["registration"]["liver_dice"] > 0.99  # the same CT twice
    assert {t["status"] for t in comparison["tracks"]} <= {"stable"}
    picture = client.get(f"/api/compare/{ids[0]}/{ids[1]}/comparison.png")
    assert picture.status_code == 200 and picture.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(f"/api/compare/{ids[0]}/{ids[1]}/report.json").status_code == 404
    assert client.post("/api/compare", json={"baseline": ids[0]}).status_code == 422
    assert client.post("/api/compare", json={"baseline": ids[0],
                                             "followup": "0" * 32}).status_code == 404
