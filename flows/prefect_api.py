"""Where Prefect reports: the server in PREFECT_API_URL, else one ephemeral server shared with the workers.

Without PREFECT_API_URL every process (and so every Dask worker) would start its own temporary server
(16-33 s each, measured). We start Prefect's own ephemeral server once in this process and export its URL,
so worker processes spawned afterwards report to it.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request

from schemas.errors import CacheError


class PrefectUnavailable(CacheError):
    """PREFECT_API_URL is set but the server does not answer."""


def check_api(url: str, timeout: float = 5.0) -> None:
    """Fail within `timeout` seconds, clearly, if the Prefect API at `url` is not healthy."""
    health = url.rstrip("/") + "/health"
    deadline = time.monotonic() + timeout
    err: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(health, timeout=max(0.5, deadline - time.monotonic())) as r:  # noqa: S310
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            err = e
        time.sleep(0.3)
    raise PrefectUnavailable(f"PREFECT_API_URL={url} does not answer ({err}); start the server with "
                             f"`pipeline server` (or `prefect server start`), or unset PREFECT_API_URL to run "
                             f"with a temporary server")


def ensure_api() -> tuple[str, bool]:
    """(api url, ephemeral?) — checks a configured server or starts the shared ephemeral one."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        check_api(url)
        return url, False
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start(timeout=120)
    os.environ["PREFECT_API_URL"] = server.api_url  # inherited by Dask worker processes started later
    return server.api_url, True
