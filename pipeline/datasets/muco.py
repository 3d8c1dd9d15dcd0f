"""MuCo-3DHP adapter: `<root>/data/MuCo-3DHP.json` (COCO style) + `<root>/data/<file_name>` composite stills.

Images carry per-image intrinsics `f` [fx, fy] and `c` [cx, cy] (px), width, height; annotations carry one person
each: `keypoints_cam` (21, 3) camera mm, `keypoints_img` (21, 2) px, `bbox`. Joint set `muco21` (3DHP-17 order +
hands and toes). Rows are person instances. Images are grouped by folder ('augmented_set', …) into clips of at
most `GROUP` images (subject 'muco', action = folder, subaction = group number); every image has its own Camera
(R = I, t = 0), so `camera[row]` = `image[row]`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from functools import partial
from pathlib import Path

import numpy as np

from pipeline.clip import Clip
from pipeline.datasets.base import DatasetAdapter, Skip, check_stride, require_root
from pipeline.datasets.video import iter_image_files
from schemas.camera import Camera
from schemas.errors import InputError

NAME = "muco"
JOINT_SET = "muco21"
SUBJECT = "muco"
GROUP = 64
JSON_PATH = Path("data") / "MuCo-3DHP.json"


def read_json(root: Path) -> dict:
    path = Path(root) / JSON_PATH
    if not path.is_file():
        raise InputError(f"muco: {path} is missing; expected <root>/data/MuCo-3DHP.json and the images under "
                         "<root>/data/")
    try:
        data = json.loads(path.read_text())
        data["images"], data["annotations"]  # noqa: B018  (format check)
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise InputError(f"{path}: not a COCO-style MuCo json with 'images' and 'annotations' "
                         f"({type(e).__name__}: {e})") from None
    return data


def image_camera(img: dict, path: Path) -> Camera:
    try:
        return Camera(f=img["f"], c=img["c"], width=int(img["width"]), height=int(img["height"]),
                      id=str(img["file_name"]))
    except (KeyError, ValueError, TypeError) as e:
        raise InputError(f"{path}: image {img.get('id')} lacks f/c/width/height ({type(e).__name__}: {e})") from None


class MuCo(DatasetAdapter):
    """MuCo-3DHP (see the module docstring): composited stills, no frame rate."""

    name = NAME
    joint_set = JOINT_SET
    fps = None

    def list_clips(self, root: Path, subjects: list[str] | None = None, frame_stride: int = 1,
                   actions: list[str] | None = None) -> tuple[list[Clip], list[Skip]]:
        """Clips of ≤ GROUP images per folder; `frame_stride` keeps every k-th image; `actions` filters folders."""
        root = require_root(root, NAME)
        stride = check_stride(frame_stride)
        if subjects is not None and any(s != SUBJECT for s in subjects):
            raise InputError(f"muco: subject(s) {', '.join(s for s in subjects if s != SUBJECT)} not found; MuCo has "
                             f"the single subject {SUBJECT!r}")
        data = read_json(root)
        path = root / JSON_PATH
        anns = defaultdict(list)
        for a in data["annotations"]:
            anns[a["image_id"]].append(a)
        folders: dict[str, list[dict]] = defaultdict(list)
        skips: list[Skip] = []
        for img in sorted(data["images"], key=lambda i: i["id"]):
            if not anns.get(img["id"]):
                skips.append(Skip(str(root / "data" / img["file_name"]), "image has no person annotations"))
                continue
            folder = Path(img["file_name"]).parent.as_posix() or "."
            if actions is None or folder in actions:
                folders[folder].append(img)
        clips: list[Clip] = []
        for folder, imgs in sorted(folders.items()):
            imgs = imgs[::stride]
            for g in range(0, len(imgs), GROUP):
                group = imgs[g:g + GROUP]
                rows = [(ii, pi, a) for ii, img in enumerate(group) for pi, a in enumerate(anns[img["id"]])]
                try:
                    k3 = np.array([np.asarray(a["keypoints_cam"], np.float64).reshape(21, 3) for _, _, a in rows])
                    k2 = np.array([np.asarray(a["keypoints_img"], np.float64).reshape(21, 2) for _, _, a in rows])
                except (KeyError, ValueError) as e:
                    raise InputError(f"{path}: annotation lacks keypoints_cam (21x3) / keypoints_img (21x2) "
                                     f"({type(e).__name__}: {e})") from None
                image = np.array([ii for ii, _, _ in rows], np.int32)
                files = [root / "data" / img["file_name"] for img in group]
                clips.append(Clip(
                    dataset=NAME, subject=SUBJECT, action=folder, subaction=str(g // GROUP), camera_id="per-image",
                    source=str((root / "data" / folder).relative_to(root)), joint_set=JOINT_SET,
                    cameras=[image_camera(img, path) for img in group],
                    frame=np.array([group[ii]["id"] for ii, _, _ in rows], np.int32),
                    person=np.array([pi for _, pi, _ in rows], np.int32), image=image, camera=image.copy(),
                    kp2d_gt=k2.astype(np.float32), pose3d_cam=k3.astype(np.float32),
                    valid=k3[:, 14, 2] > 0, frames=partial(iter_image_files, files)))
        return clips, skips

    def camera_table(self, root: Path | None = None) -> list[dict]:
        """Rows of `pipeline cameras muco`: one per image (needs the root; MuCo has no fixed cameras)."""
        if root is None:
            return []
        root = require_root(root, NAME)
        path = root / JSON_PATH
        return [{"subject": SUBJECT, **image_camera(img, path).to_dict()} for img in read_json(root)["images"]]


ADAPTER = MuCo()
