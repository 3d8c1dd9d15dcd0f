"""Files and directories of a small store written through the real write path, for the chunk-key layout.

tests/conftest.build_store (tiny map shapes: the counts depend on arrays x shards, not on bytes): 10 clips x 640
rows = 100 shards of 64 rows, 4 map levels, joint features derived (`derive_joint_features`). Prints one JSON line.

    OMP_NUM_THREADS=1 nice .venv/bin/python bench/layout_count.py /tmp/layout_count.zarr
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.joint_features import derive_joint_features  # noqa: E402
from tests.conftest import build_store  # noqa: E402

CLIPS, CLIP_ROWS, SHARD_ROWS = 10, 640, 64


def count(path: Path) -> tuple[int, int]:
    """(files, directories) below `path`, the root excluded."""
    files = dirs = 0
    for _, ds, fs in os.walk(path):
        dirs, files = dirs + len(ds), files + len(fs)
    return files, dirs


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/layout_count.zarr")
    shutil.rmtree(out, ignore_errors=True)
    lengths = [((("S1", "S9")[i % 2], f"Act{i}", "1"), CLIP_ROWS) for i in range(CLIPS)]
    build_store(out, lengths=lengths, shard_rows=SHARD_ROWS)
    derive_joint_features(str(out), "hrnet32")
    files, dirs = count(out)
    print(json.dumps({"store": str(out), "rows": CLIPS * CLIP_ROWS, "shards": CLIPS * CLIP_ROWS // SHARD_ROWS,
                      "files": files, "dirs": dirs}))
    if "--keep" not in sys.argv:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
