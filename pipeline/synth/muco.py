"""Synthetic MuCo-3DHP raw layout: `data/MuCo-3DHP.json` (COCO style, per-image f/c, one annotation per person
with keypoints_cam (21, 3) mm, keypoints_img (21, 2) px, bbox [x, y, w, h]) + `data/<folder>/<id>.jpg` stills of
2-3 people sharing one z-buffer (they occlude each other)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.synth.body import KINDS, animate, stable_seed, to_muco21
from pipeline.synth.encode import write_jpeg
from pipeline.synth.mpi3dhp import look_at
from pipeline.synth.render import background, palette, render
from schemas.camera import Camera, project, world_to_camera

DEFAULT_ACTIONS = ("augmented_set", "unaugmented_set")


def synth_muco(out: Path, actions: list[str] | None = None, frames: int = 16, seed: int = 0, size: int = 1024,
               people: tuple[int, int] = (2, 3)) -> dict:
    """Write `frames` images per folder in `actions` (default augmented_set, unaugmented_set) under `out/data`."""
    out = Path(out)
    folders = list(actions or DEFAULT_ACTIONS)
    images, anns = [], []
    for folder in folders:
        for k in range(frames):
            img_id = len(images) + 1
            rng = np.random.default_rng(stable_seed("muco", seed, folder, k))
            f = 1500.0 * size / 2048 * rng.uniform(0.9, 1.1)
            R, t = look_at(np.array([0.0, -5000.0, rng.uniform(1000, 1600)]), np.array([0.0, 0.0, 900.0]))
            cam = Camera(f=[f, f], c=size / 2 + rng.uniform(-20, 20, 2), R_w2c=R, t_w2c=t, width=size, height=size)
            n_people = int(rng.integers(people[0], people[1] + 1))
            xs = np.linspace(-1300, 1300, n_people) + rng.uniform(-150, 150, n_people)
            persons, colors = [], []
            for p in range(n_people):
                kind = KINDS[int(rng.integers(len(KINDS)))]
                rich = animate(kind, 1, 25, rng, radius=1.0, centre=(xs[p], rng.uniform(-900, 900)),
                               scale=rng.uniform(0.92, 1.08))[0]
                persons.append(world_to_camera(rich, R, t))
                colors.append(palette(rng))
            file_name = f"{folder}/{img_id:06d}.jpg"
            bg = background(size, size, rng)
            write_jpeg(out / "data" / file_name, render(bg, persons, cam, colors), quality=95)
            images.append({"id": img_id, "file_name": file_name, "width": size, "height": size,
                           "f": cam.f.tolist(), "c": cam.c.tolist()})
            for pc in persons:
                k3 = to_muco21(pc)
                k2 = project(k3, cam)
                x0, y0 = k2.min(0)
                x1, y1 = k2.max(0)
                anns.append({"id": len(anns) + 1, "image_id": img_id, "keypoints_cam": k3.round(3).tolist(),
                             "keypoints_img": k2.round(4).tolist(),
                             "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)], "category_id": 1,
                             "iscrowd": 0})
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / "data" / "MuCo-3DHP.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    return {"dataset": "muco", "root": str(out), "images": len(images), "rows": len(anns)}
