"""Prefect flows and tasks: plan -> map over clips on Dask -> finalize. Orchestration only, no math."""
