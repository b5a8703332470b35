"""The FastAPI application of ``livseg serve``: the page, the job API and the files.

API (OpenAPI at ``/docs`` and ``/openapi.json``): ``POST /api/jobs`` (multipart field
``file``: a NIfTI/NRRD/MHA file, a .zip of one DICOM series, or the files of one DICOM
folder) -> 202 ``{"id"}``; ``GET /api/jobs/{id}`` -> status, progress, error, files;
``GET /api/jobs/{id}/{file}`` for ``segmentation.nii.gz``, ``report.json``,
``overlay.png``, the meshes and ``ct.nii.gz`` (the CT as read, for the viewer).
``GET /models/{file}`` serves the shipped ONNX models for the page's on-device mode.

The server answers only requests whose ``Host`` is one of ``allowed_hosts`` (the loopback
names by default), so a web page elsewhere cannot reach it through DNS rebinding. Uploads
are read under upload limits: no voxel data in other files, declared sizes checked before
decoding, the CT checked to be in HU.
"""
from __future__ import annotations

import contextlib
import mimetypes
import shutil
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from livseg._version import __version__
from livseg.io.limits import MAX_VOXELS, ReadLimits
from livseg.serve.decode import DecodeFailed, decode_upload
from livseg.serve.jobs import DOWNLOADS, Job, JobStore, QueueFull, jobs_root
from livseg.serve.uploads import UploadError, receive_files

STATIC = Path(__file__).parent / "static"
MODEL_FILES = ("liver.onnx", "liver.json", "tumour.onnx", "tumour.json")
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")  # vendored by make
#: The names of this machine a browser uses; anything else is refused (DNS rebinding).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")


@dataclass
class ServeSettings:
    max_upload_mb: float = 1024.0
    workers: int = 1
    max_queued: int = 8
    ttl_s: float = 3600.0
    jobs_dir: Path | None = None  # default: a new temporary folder
    backend: str = "auto"
    threads: int | None = None
    max_voxels: int = MAX_VOXELS
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS

    @property
    def read_limits(self) -> ReadLimits:
        return ReadLimits(max_voxels=self.max_voxels, external_data=False)


def create_app(settings: ServeSettings | None = None, cascade_factory=None) -> FastAPI:
    """The application; ``cascade_factory`` builds the cascade on first use (default: the
    shipped weights). Job folders left by a previous server (one killed, say) are deleted."""
    from livseg.infer import Cascade

    settings = settings or ServeSettings()
    limit = int(settings.max_upload_mb * 2**20)
    own_root = settings.jobs_dir is None
    root = jobs_root(settings.jobs_dir)
    factory = cascade_factory or (lambda: Cascade.shipped(backend=settings.backend,
                                                          threads=settings.threads))
    store = JobStore(root, factory, settings.workers, settings.max_queued, settings.ttl_s,
                     limits=settings.read_limits)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        store.close()
        if own_root:  # the jobs' files go with the server
            shutil.rmtree(root, ignore_errors=True)

    app = FastAPI(title="livseg", version=__version__, lifespan=lifespan,
                  description="Liver and liver-tumour segmentation of abdominal CT",
                  docs_url=None, redoc_url=None)  # /docs below, from vendored files only
    app.state.jobs = store
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))

    @app.middleware("http")
    async def same_origin(request: Request, call_next):
        # a page of another site may send a POST here (a form, fetch in no-cors mode):
        # browsers say where it came from, and only this server's own page may change state
        if request.method not in ("GET", "HEAD", "OPTIONS") and not _same_origin(request):
            return _error(403, "cross-origin requests are refused; use livseg's own page")
        return await call_next(request)

    @app.middleware("http")
    async def isolation(request: Request, call_next):
        # cross-origin isolation lets onnxruntime-web use threads (SharedArrayBuffer);
        # everything the page loads is same-origin
        response = await call_next(request)
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Embedder-Policy"] = "require-corp"
        return response

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    def api_page():
        if not all((STATIC / "vendor" / name).is_file() for name in SWAGGER_FILES):
            return _error(404, "the API page needs Swagger UI, vendored by `make` (run "
                               "`python tools/vendor_web.py`); the API itself is described "
                               "at /openapi.json")
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="livseg API",
                                   swagger_js_url="/static/vendor/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger-ui.css",
                                   swagger_favicon_url="data:,")

    @app.get("/example/ct.nii.gz", summary="the packaged example CT (a real abdominal CT, "
                                           "TotalSegmentator's test image, Apache-2.0)")
    def example_ct():
        from livseg.data import EXAMPLE_CT, EXAMPLE_FILES

        return FileResponse(EXAMPLE_CT / EXAMPLE_FILES[0], filename="totalseg_ct_sm.nii.gz")

    @app.get("/models/{name}", summary="a shipped ONNX model of the cascade (on-device mode)")
    def model_file(name: str):
        from livseg.weights import WEIGHTS_DIR

        if name not in MODEL_FILES:
            raise HTTPException(404, f"no model {name!r}")
        return FileResponse(WEIGHTS_DIR / "onnx" / name)

    @app.post("/api/jobs", status_code=202, summary="upload a CT and start its segmentation")
    async def create_job(request: Request):
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return _error(413, f"the upload ({int(declared) / 2**20:.1f} MB) is larger than "
                               f"the limit of {settings.max_upload_mb:g} MB")
        try:
            with store.admission():
                job_id, folder = store.new_folder()
                try:
                    files = await receive_files(request.headers.get("content-type", ""),
                                                request.stream(), folder / "input", limit)
                    source = await run_in_threadpool(decode_upload, files, folder / "input",
                                                     limit, settings.read_limits,
                                                     folder / "ct.nii.gz")
                    store.submit(Job(job_id, folder, source))
                except BaseException:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise
        except UploadError as error:
            return _error(error.status, str(error))
        except DecodeFailed as error:
            return _error(422, str(error))
        except QueueFull:
            return _error(503, "too many jobs are waiting; try again in a minute",
                          {"Retry-After": "60"})
        return {"id": job_id}

    @app.post("/api/compare", summary="follow the lesions of one finished job's CT (the "
                                       "baseline) to another's (the follow-up)")
    async def compare_jobs(request: Request):
        try:
            asked = await request.json()
            first, second = _job(store, str(asked["baseline"])), _job(store, str(asked["followup"]))
        except (ValueError, KeyError, TypeError):
            return _error(422, 'send {"baseline": JOB_ID, "followup": JOB_ID}')
        if first.status != "done" or second.status != "done":
            return _error(409, "both jobs must be done before they are compared")
        from livseg.compare import compare_scans
        from livseg.errors import LivsegInputError

        def never_segment(*_):  # both are predict folders: nothing is segmented again
            raise LivsegInputError("a job's results are missing")

        try:
            return await run_in_threadpool(
                compare_scans, first.folder / "out", second.folder / "out",
                _comparison_folder(first, second), never_segment, overwrite=True)
        except LivsegInputError as error:
            return _error(422, str(error))

    @app.get("/api/compare/{baseline}/{followup}/{name}",
             summary="a file of a comparison (comparison.json, lesions.csv, comparison.png)")
    def comparison_file(baseline: str, followup: str, name: str):
        from livseg.compare import OUTPUT_FILES

        folder = _comparison_folder(_job(store, baseline), _job(store, followup))
        if name not in OUTPUT_FILES or not (folder / name).is_file():
            raise HTTPException(404, f"no file {name!r} of this comparison")
        return FileResponse(folder / name, filename=name)

    @app.get("/api/jobs/{job_id}", summary="a job's status and progress")
    def job_status(job_id: str):
        return _job(store, job_id).public()

    @app.get("/api/jobs/{job_id}/{name}", summary="a result file of a finished job")
    def job_file(job_id: str, name: str):
        job = _job(store, job_id)
        if name not in (*DOWNLOADS, "ct.nii.gz"):
            raise HTTPException(404, f"no file {name!r}")
        path = job.folder / ("ct.nii.gz" if name == "ct.nii.gz" else f"out/{name}")
        if job.status != "done" or not path.is_file():
            raise HTTPException(404, f"{name} is not there (job {job.status})")
        return FileResponse(path, filename=name)

    return app


def _comparison_folder(baseline: Job, followup: Job) -> Path:
    """Inside the baseline job's folder: deleted with it when its time is up."""
    return baseline.folder / "compare" / followup.id


def _job(store: JobStore, job_id: str) -> Job:
    job = store.get(job_id)
    if job is None:
        raise HTTPException(404, "no such job (finished jobs are deleted after a while)")
    return job


def _same_origin(request: Request) -> bool:
    """False when a browser says the request comes from another site: its ``Origin`` is
    not this server's (scheme, host and port), or ``Sec-Fetch-Site`` is cross-site.
    Clients that are no browser (curl, scripts) send neither, and pass."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    return origin.lower() == own.lower()


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


