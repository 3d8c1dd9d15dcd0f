"""`pipeline info` and `pipeline check`: look at a store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.app import app, console, err_console


def _human(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@app.command()
def info(store: Annotated[Path, typer.Argument(help="Path of the store (a directory).")],
         as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
         ) -> None:
    """Datasets, clips done/pending, rows, and every array with shape, dtype, chunking, bytes and ratio."""
    from storage.audit import store_info

    data = store_info(store)
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    console.print(f"[bold]{data['path']}[/]  schema {data['schema']} v{data['schema_version']}, "
                  f"created {data.get('created', '?')}")
    for name, d in data["datasets"].items():
        a = d["attrs"]
        console.print(f"\n[bold cyan]{name}[/]  joint set {a['joint_set']} (root {a['root_index']}), "
                      f"clips {d['clips']} (done {d['clips_done']}, pending {d['clips_pending']}, "
                      f"failed {d['clips_failed']}), rows {d['rows_written']} written / {d['rows']} allocated")
        arrays = list(d["arrays"])
        for bb, b in d["backbones"].items():
            ba = b["attrs"]
            sha = str(ba.get("checkpoint_sha256"))[:12]
            init = "RANDOM INIT" if ba.get("random_init") else f"checkpoint sha256 {sha}"
            console.print(f"  backbone [bold]{bb}[/]: {init}; clips done {b['clips_done']}, pending "
                          f"{b['clips_pending']}, failed {b['clips_failed']}; "
                          f"maps {b['encoding']}, " + (f"{_human(b['map_bytes_per_row'])}/row, "
                          f"{b['map_ratio_vs_raw_fp16']}x raw fp16" if b["map_bytes_per_row"] else "no clip done yet")
                          + (f", compacted from {ba['compacted_from']}" if ba.get("compacted_from") else ""))
            arrays += b["arrays"]
        t = Table(box=None)
        t.add_column("array", overflow="fold")
        for col in ("row shape", "dtype", "chunks", "shards", "stored", "ratio"):
            t.add_column(col, justify="right" if col in {"stored", "ratio"} else "left")
        for x in arrays:
            t.add_row(x["path"].removeprefix(name + "/"), str(tuple(x["row_shape"])), x["dtype"],
                      str(tuple(x["chunks"])),
                      str(tuple(x["shards"])) if x["shards"] else "-", _human(x["stored_bytes"]),
                      f"{x['compression_ratio']}" if x["compression_ratio"] else "-")
        console.print(t)


@app.command()
def check(store: Annotated[Path, typer.Argument(help="Path of the store (a directory).")],
          deep: Annotated[bool, typer.Option("--deep", help="Also decode every feature-map row (reads every byte; "
                                             "default: verify shard indices and chunk checksums).")] = False,
          repair: Annotated[bool, typer.Option("--repair", help="Mark the clips owning corrupt or missing chunks "
                                               "pending and remove their chunk files; the next `pipeline extract` "
                                               "re-extracts exactly those.")] = False) -> None:
    """Validate a store: exit 0 when valid, else exit 1 listing every problem (`--repair`: hand them back)."""
    from storage.audit import check_store

    problems = check_store(store, deep=deep)
    if not problems:
        console.print(f"[green]ok[/] {store}: no problems found")
        return
    err_console.print(f"[bold red]{len(problems)} problem(s)[/] in {store}:")
    for p in problems:
        err_console.print(f"  - {p}", highlight=False)
    if not repair:
        raise typer.Exit(1)
    from storage.repair import repair_store

    lines, others = repair_store(store, deep=deep)
    for line in lines:
        console.print(f"[yellow]repaired[/] {line}", highlight=False)
    if others:  # metadata or structure: re-extracting a clip cannot fix them
        err_console.print(f"{len(others)} problem(s) belong to no clip's data; --repair cannot fix them")
        raise typer.Exit(1)
    console.print(f"[green]ok[/] {len(lines)} clip(s) marked pending: rerun the same `pipeline extract` to "
                  "re-extract exactly those", highlight=False)


@app.command()
def compact(
    store: Annotated[Path, typer.Argument(help="Path of the store (a directory).")],
    backbone: Annotated[str, typer.Option(help="Source backbone group to rewrite (it is only read).")],
    encoding: Annotated[str, typer.Option(help="Target map encoding: a lossless codec (blosc-zstd5, zstd3, ...), "
                                          "bitround-K (K=1..9 fp16 mantissa bits kept) or int8.")],
    name: Annotated[str | None, typer.Option(help="Target group name (default BACKBONE-ENCODING).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing target group.")] = False,
    dataset: Annotated[str | None, typer.Option(help="Dataset of the store (default: the only one).")] = None,
) -> None:
    """Rewrite a backbone group in another map encoding without re-running the backbone (resumable)."""
    from storage.compact import compact as run_compact

    with console.status("compacting ...") as status:
        summary = run_compact(store, backbone, encoding, name=name, overwrite=overwrite, dataset=dataset,
                              on_clip=lambda k, n: status.update(f"compacting: clip {k} of {n} written"))
    verb = "resumed" if summary["resumed"] else "wrote"
    console.print(f"[green]ok[/] {verb} {summary['dataset']}/backbones/{summary['target']} ({summary['encoding']}) "
                  f"from {summary['source']}: {summary['clips_written']} clips, {summary['rows_written']} rows in "
                  f"{summary['seconds']} s; {summary['clips_done']} clips done")
