"""Run one `ExtractRequest` end to end: the Prefect API, the flow's own Dask runner, the flow, its summary."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable

from flows.prefect_logs import log_path, logs_to_file
from flows.request import ExtractRequest
from flows.watchdog import start_watchdog
from schemas.errors import CacheError

Listener = Callable[[str, dict], None]


def run_extract(req: ExtractRequest, on_event: Listener | None = None, say: Callable[[str], None] = print,
                verbose: bool = False) -> dict:
    """Extract `req` (validated by the caller) into its store, holding the store's lock throughout.

    on_event(event, payload) sees "cluster", "planned", "clip", "failed", "finished"; `say` gets one-line
    progress notes. Prefect's own logs (tracebacks) go to `<store>.log` unless `verbose`. Returns the summary dict
    (ExtractSummary fields + "prefect_api", "ephemeral_api", "log");
    CacheError when the flow failed as a whole (e.g. bad raw data at planning)."""
    from storage.lock import StoreLock

    with StoreLock(req.store):  # refuse at once if another run writes this store; the flow re-enters it
        from flows.preflight import preflight

        say("checking the raw data, the store and the checkpoint ...")
        preflight(req)  # bad input fails here, in seconds, before any server, cluster or store exists
        if not verbose:
            os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        if req.dask_address:  # before anything slow: an unreachable scheduler fails within seconds
            from flows.runner import check_dask_address

            check_dask_address(req.dask_address, req.task_resources)
        start_watchdog()  # the temporary server and the local cluster die with this process, even on SIGKILL
        log = None if verbose else log_path(req.store)
        with logs_to_file(log) if log else contextlib.nullcontext():  # tracebacks to the log, not the console
            from flows.prefect_api import ensure_api

            url, ephemeral = ensure_api()
            say(f"Prefect API: {url}" + (" (temporary server for this run)" if ephemeral else ""))
            if ephemeral and req.dask_address:
                say("PREFECT_API_URL is unset: the workers of --dask-address cannot reach this temporary server; each "
                    "worker process starts its own. Run `pipeline server` and export PREFECT_API_URL for the "
                    "scheduler's workers and this command.")
            from flows.extract import extract_flow, set_listener
            from flows.runner import build_task_runner

            runner, threads = build_task_runner(req)
            if not verbose:  # the scheduler of a LocalCluster runs in this process and logs at INFO through Prefect
                logging.getLogger("distributed").setLevel(logging.WARNING)
            where = req.dask_address or f"local cluster, {runner.cluster_kwargs['n_workers']} worker process(es)"
            say(f"Dask: {where}, torch threads per task: {threads or 'worker default'}"
                + (f", task resources {runner.task_resources}" if runner.task_resources else ""))
            say("planning (listing clips, allocating rows, building the backbone) and starting workers ...")
            set_listener(on_event)
            try:
                state = extract_flow.with_options(task_runner=runner)(
                    dataclasses.replace(req, torch_threads=threads), return_state=True)
            finally:
                set_listener(None)
    if state.is_failed():
        raise CacheError(state.message or f"the extract flow failed; see {log or 'the log above'} (or rerun with "
                         "--verbose for Prefect's logs on the console)")
    return {**state.result(), "prefect_api": url, "ephemeral_api": ephemeral, "log": str(log) if log else None}
