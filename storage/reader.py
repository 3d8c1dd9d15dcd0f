"""Random-access reader: row indices -> dict of numpy arrays (storage/reader_base.py chooses the sources,
storage/index_tables.py lists the rows, storage/rowread.py reads them through tensorstore).

A batch reads only its maps (and joint features) from the files: the four levels are read concurrently, each at
its sorted distinct rows (file order). The small per-row arrays (clip, frame, bbox, affine, 2D, 3D, camera, a 2D
source) are held whole in memory per reader and process after their first use, so a batch indexes them instead
of decoding a 64-row chunk per row group it touches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import zarr

from schemas.errors import StoreError
from storage.encodings import QPARAMS_SUFFIX, dequantize_int8
from storage.index_tables import IndexTables

ROW_FIELDS = ("clip", "frame", "person", "valid", "bbox", "affine", "kp2d_gt", "pose3d_cam")


class Reader(IndexTables):
    """Reads one dataset of a store (see ReaderBase for the sources; only clips whose rows, and backbone outputs
    when a backbone is used, and joint features when served, are DONE are indexed)."""

    def read(self, rows, fields: tuple[str, ...] = ROW_FIELDS, maps: bool = False, flip: bool = False,
             joint_features: bool = False, levels: Sequence[str] | None = None) -> dict:
        """Batched read of arbitrary rows (any order, repeats allowed).

        Returns per-row arrays: clip, frame, person, valid, bbox (n,4) px, affine (n,2,3), kp2d_gt (n,J,2) px,
        pose3d_cam (n,J,3) mm, camera (n,23) camera vectors, kp2d (n,J,2) px of the selected 2D source
        (+ kp2d_score for a backbone source), and with maps=True each level (n,C,H,W) float16
        (flip=True: the maps of the flipped crop, from backbones/<name>/flip; `levels`: only those, default all,
        StoreError for a level the group lacks); with joint_features=True
        `joint_features` (n, J, D) float16, the maps sampled at the joints (flip=True: of the flipped crop, joints
        already in the flipped order).
        """
        rows = self._check_rows(rows)
        g = self.group
        big: dict[str, zarr.Array] = {}
        if maps:
            big.update(self._map_arrays(flip, levels))
        if joint_features:
            big["joint_features"] = self.joints_group(flip)["feat"]
        int8 = maps and self.encoding is not None and self.encoding.kind == "int8"
        paths = [a.path for a in big.values()]
        qpaths = {lv: big[lv].path + QPARAMS_SUFFIX for lv in big if int8 and lv != "joint_features"}
        got = self._io.read({p: rows for p in [*paths, *qpaths.values()]})  # all levels in flight together
        out: dict[str, np.ndarray] = {"row": rows}
        for f in fields:
            out[f] = self._whole(g["rows"][f])[rows]
        cam_idx = self._whole(g["rows/camera"])[rows]
        out["camera"] = self.cameras[np.clip(cam_idx, 0, None)]
        if self.keypoints == "gt":
            out["kp2d"] = out["kp2d_gt"] if "kp2d_gt" in out else self._whole(g["rows/kp2d_gt"])[rows]
        elif self.keypoints in self.ds.backbones():
            bb = g["backbones"][self.keypoints]
            out["kp2d"] = self._whole(bb["kp2d"])[rows]
            out["kp2d_score"] = self._whole(bb["kp2d_score"])[rows]
        else:
            out["kp2d"] = self._whole(g["imports"][self.keypoints]["kp2d"])[rows]
        for name, arr in big.items():
            out[name] = dequantize_int8(got[arr.path], got[qpaths[name]]) if name in qpaths else got[arr.path]
        return out

    def _map_arrays(self, flip: bool, levels: Sequence[str] | None) -> dict[str, zarr.Array]:
        """{level: the stored array} of the selected backbone (its flip/ group with `flip`)."""
        if self.backbone is None:
            raise StoreError(f"{self.path}/{self.dataset}: no backbone maps in this store; "
                             f"run `pipeline extract` with --backbone first")
        bb = self.group["backbones"][self.backbone]
        if flip:
            if "flip" not in bb:
                raise StoreError(f"{self.path}/{self.dataset}/backbones/{self.backbone}: no flipped maps; "
                                 f"re-extract with --flip")
            bb = bb["flip"]
        want = list(self.levels) if levels is None else list(levels)
        missing = [lv for lv in want if lv not in self.levels]
        if missing:
            raise StoreError(f"{self.path}/{self.dataset}/backbones/{self.backbone}: no map level(s) "
                             f"{', '.join(missing)} (levels: {', '.join(self.levels)})")
        return {lv: bb[lv] for lv in want}

    def __len__(self) -> int:
        return self.num_rows
