"""``livseg serve``: the web app (FastAPI + uvicorn), its job queue and its page."""
from __future__ import annotations

from livseg.serve.app import LOOPBACK_HOSTS, ServeSettings, create_app

__all__ = ["LOOPBACK_HOSTS", "ServeSettings", "create_app"]
