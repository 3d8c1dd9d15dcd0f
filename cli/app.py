"""The Typer app object and the error boundary shared by every command module."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="pipeline",
    help="Context feature cache for 3D human pose lifting: synthesize, extract, inspect, train, evaluate.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a red error line to stderr and return an Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def csv_list(value: str | None) -> list[str] | None:
    """'S1, S5,' -> ['S1', 'S5']; None (the option was not given, or named nothing) -> None."""
    items = [v.strip() for v in value.split(",") if v.strip()] if value else []
    return items or None
