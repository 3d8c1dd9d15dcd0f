"""Procedural articulated body: H36M-like bone lengths (mm) and walking / arm / bending / turning motions.

World frame: z up, floor z = 0, mm. A pose is the 'rich' joint array (N, 25, 3): the 17 `h36m17` joints followed
by `EXTRA` points (toes, hands, thumbs) from which the 32 (H36M), 28 (3DHP) and 21 (MuCo) layouts are built.
"""

from __future__ import annotations

import zlib

import numpy as np

EXTRA = ("LToe", "RToe", "LToeTip", "RToeTip", "LHand", "RHand", "LThumb", "RThumb")
NUM_RICH = 17 + len(EXTRA)
# H36M-like mean bone lengths, mm
BONES = {"hip_w": 130.0, "thigh": 450.0, "shin": 445.0, "spine": 230.0, "chest": 250.0, "neck": 115.0,
         "head": 115.0, "shoulder_w": 150.0, "upper_arm": 280.0, "forearm": 250.0}
KINDS = ("walk", "arms", "bend", "turn", "reach")
_ACTION_KIND = {"Walking": "walk", "WalkDog": "walk", "WalkingDog": "walk", "WalkTogether": "walk",
                "Directions": "arms", "Greeting": "reach", "Discussion": "reach", "Posing": "reach", "Phoning": "reach",
                "Smoking": "reach", "Photo": "arms", "TakingPhoto": "arms", "Purchases": "reach",
                "Sitting": "bend", "SittingDown": "bend", "Eating": "bend", "Waiting": "turn",
                "Seq1": "walk", "Seq2": "bend"}


def stable_seed(*parts: object) -> int:
    """A deterministic 32-bit seed from any printable parts (Python's hash() is salted per process)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


def kind_for_action(action: str) -> str:
    """Motion kind of an action name ('Walking 1' -> 'walk'); unknown names get a stable pseudo-random kind."""
    base = action.split(" ")[0]
    return _ACTION_KIND.get(base, KINDS[stable_seed(base) % len(KINDS)])


def _rx(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _ry(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rz(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _apply(R: np.ndarray, v) -> np.ndarray:
    return np.einsum("nij,nj->ni", R, np.broadcast_to(np.asarray(v, np.float64), (R.shape[0], 3)))


def _limb(R: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(N, 3) unit direction of a limb hanging down (0, 0, -1), pitched forward then rolled sideways."""
    return _apply(R @ _rx(pitch) @ _ry(roll), (0.0, 0.0, -1.0))


def angles(kind: str, t: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Joint angles (radians) and root motion for one motion kind at times t (s). Keys are documented inline."""
    n = t.shape[0]
    ph = rng.uniform(0, 2 * np.pi)
    amp = rng.uniform(0.8, 1.2)
    z = np.zeros(n)
    a = {k: z.copy() for k in ("l_thigh", "r_thigh", "l_knee", "r_knee", "l_arm", "r_arm", "l_abd", "r_abd",
                               "l_elbow", "r_elbow", "bend", "twist", "head", "speed", "turn")}
    a["l_abd"] += 0.15
    a["r_abd"] += 0.15
    a["l_elbow"] += 0.2
    a["r_elbow"] += 0.2
    if kind == "walk":
        w = 2 * np.pi * 0.9 * t + ph
        a["l_thigh"], a["r_thigh"] = 0.45 * amp * np.sin(w), -0.45 * amp * np.sin(w)
        a["l_knee"] = 0.6 * np.clip(np.sin(w + 1.2), 0, None) + 0.05
        a["r_knee"] = 0.6 * np.clip(np.sin(w + 1.2 + np.pi), 0, None) + 0.05
        a["l_arm"], a["r_arm"] = -0.4 * amp * np.sin(w), 0.4 * amp * np.sin(w)
        a["l_elbow"] += 0.3 + 0.2 * np.sin(w)
        a["r_elbow"] += 0.3 - 0.2 * np.sin(w)
        a["speed"] += 1100.0 * amp
        a["turn"] += rng.choice([-1, 1]) * rng.uniform(0.3, 0.7)
        a["twist"] = 0.08 * np.sin(w)
    elif kind == "arms":
        w = 2 * np.pi * 0.6 * t + ph
        a["l_arm"] = 0.9 + 0.8 * np.sin(w)
        a["r_arm"] = 0.5 + 0.9 * np.sin(1.3 * w + 1.0)
        a["l_abd"] = 0.3 + 0.5 * (1 + np.sin(0.7 * w))
        a["r_abd"] = 0.2 + 0.4 * (1 + np.cos(w))
        a["l_elbow"] = 0.6 + 0.5 * np.sin(1.7 * w)
        a["r_elbow"] = 1.0 + 0.6 * np.cos(w)
        a["twist"] = 0.35 * np.sin(0.5 * w)
        a["l_thigh"], a["r_thigh"] = 0.1 * np.sin(0.5 * w), -0.1 * np.sin(0.5 * w)
        a["turn"] += 0.4 * np.sin(0.3 * w)
    elif kind == "bend":
        w = 2 * np.pi * 0.4 * t + ph
        b = 0.5 * (1 + np.sin(w))
        a["bend"] = 0.9 * amp * b
        a["l_thigh"] = a["r_thigh"] = 0.5 * b
        a["l_knee"] = a["r_knee"] = 0.9 * b
        a["l_arm"] = a["r_arm"] = 0.6 * b + 0.2
        a["l_elbow"] = a["r_elbow"] = 0.4 + 0.6 * b
        a["head"] = -0.3 * b
    elif kind == "turn":
        w = 2 * np.pi * 0.5 * t + ph
        a["turn"] += rng.choice([-1, 1]) * 1.6
        a["l_arm"], a["r_arm"] = 0.3 * np.sin(w), 0.6 + 0.5 * np.sin(w + 2)
        a["r_elbow"] = 1.2 + 0.3 * np.sin(w)
        a["l_thigh"], a["r_thigh"] = 0.2 * np.sin(2 * w), -0.2 * np.sin(2 * w)
        a["l_knee"], a["r_knee"] = 0.2 * np.clip(np.sin(2 * w), 0, None), 0.2 * np.clip(-np.sin(2 * w), 0, None)
    elif kind == "reach":
        # Depth-ambiguous limbs: each arm (and the thighs) swings about a per-sequence random pitch whose sign
        # (reaching forward or backward) a 2D projection seen from the front or back cannot tell apart; only the
        # images' depth cues (shading, occlusion, thickness) can. Elbows bend about a per-sequence random angle.
        w = 2 * np.pi * 0.35 * t + ph
        for side, k in (("l", 0.0), ("r", 1.7)):
            sign = rng.choice([-1.0, 1.0])
            a[f"{side}_arm"] = sign * (rng.uniform(0.5, 1.3) + 0.35 * np.sin(w + k))
            a[f"{side}_abd"] = rng.uniform(0.0, 0.5) + 0.15 * np.sin(0.5 * w + k)
            a[f"{side}_elbow"] = rng.uniform(0.0, 1.2) + 0.3 * np.sin(w + 2 * k)
            a[f"{side}_thigh"] = rng.choice([-1.0, 1.0]) * rng.uniform(0.0, 0.5) * (1 + 0.3 * np.sin(w + k))
        a["bend"] = rng.uniform(-0.1, 0.35) * np.ones(n)
        a["turn"] += 0.3 * np.sin(0.4 * w)
    else:
        raise ValueError(f"unknown motion kind {kind!r}; known: {', '.join(KINDS)}")
    return a


def animate(kind: str, n_frames: int, fps: float, rng: np.random.Generator, scale: float = 1.0,
            centre: tuple[float, float] = (0.0, 0.0), radius: float = 1200.0) -> np.ndarray:
    """(N, 25, 3) float64 world mm: the rich joints of one person moving with `kind` around `centre` (x, y mm).

    Walking follows a circle of `radius` about `centre` (so long sequences stay in view); others drift slowly.
    """
    t = np.arange(n_frames) / fps
    a = angles(kind, t, rng)
    L = {k: v * scale for k, v in BONES.items()}
    heading0 = rng.uniform(-np.pi, np.pi)
    pos0 = np.asarray(centre) + rng.uniform(-0.3, 0.3, 2) * radius
    if kind == "walk":
        omega = a["speed"][0] / radius * np.sign(a["turn"][0])
        ang = heading0 + omega * t
        pos = np.asarray(centre)[None] + radius * np.stack([np.cos(ang), np.sin(ang)], -1)
        heading = ang + np.sign(omega) * np.pi / 2
    else:
        heading = heading0 + np.cumsum(a["turn"]) / fps
        pos = pos0[None] + np.stack([np.sin(0.3 * t), np.cos(0.2 * t)], -1) * 60.0
    # body frame: x = person's left, y = forward, z = up; yaw aligns body forward (0, 1) with the heading
    Rb = _rz(heading - np.pi / 2)
    Rt = Rb @ _rz(a["twist"]) @ _rx(-a["bend"])
    J = np.zeros((n_frames, NUM_RICH, 3))
    J[:, 1] = _apply(Rb, (-L["hip_w"], 0, 0))
    J[:, 4] = _apply(Rb, (L["hip_w"], 0, 0))
    for hip, knee, foot, th, kn, toe, tip in ((4, 5, 6, "l_thigh", "l_knee", 17, 19),
                                              (1, 2, 3, "r_thigh", "r_knee", 18, 20)):
        J[:, knee] = J[:, hip] + L["thigh"] * _limb(Rb, a[th], 0.03 * np.ones(n_frames))
        J[:, foot] = J[:, knee] + L["shin"] * _limb(Rb, a[th] - a[kn], np.zeros(n_frames))
        fwd = _apply(Rb, (0, 1, 0))
        J[:, toe] = J[:, foot] + 120 * scale * fwd + _apply(Rb, (0, 0, -60 * scale))
        J[:, tip] = J[:, toe] + 60 * scale * fwd
    J[:, 7] = _apply(Rt, (0, 10, L["spine"]))
    J[:, 8] = J[:, 7] + _apply(Rt, (0, 0, L["chest"]))
    Rh = Rt @ _rx(a["head"])
    J[:, 9] = J[:, 8] + _apply(Rh, (0, 35, L["neck"]))
    J[:, 10] = J[:, 9] + _apply(Rh, (0, -15, L["head"]))
    for sho, elb, wri, hand, thumb, side, arm, abd, el in ((11, 12, 13, 21, 23, 1, "l_arm", "l_abd", "l_elbow"),
                                                          (14, 15, 16, 22, 24, -1, "r_arm", "r_abd", "r_elbow")):
        J[:, sho] = J[:, 8] + _apply(Rt, (side * L["shoulder_w"], 0, -25))
        J[:, elb] = J[:, sho] + L["upper_arm"] * _limb(Rt, a[arm], -side * a[abd])
        u = _limb(Rt, a[arm] + a[el], -side * a[abd] * 0.8)
        J[:, wri] = J[:, elb] + L["forearm"] * u
        J[:, hand] = J[:, wri] + 80 * scale * u
        J[:, thumb] = J[:, wri] + 40 * scale * u + _apply(Rt, (0, 25 * scale, 0))
    floor = -np.minimum(J[:, [6, 3, 17, 18], 2].min(axis=1) - 0.0, 0) + 0.0
    lift = np.maximum(floor, 0) + 20.0 * scale  # lowest foot point 20 mm above the floor
    J[:, :, :2] += pos[:, None, :]
    J[:, :, 2] += lift[:, None]
    return J


def to_h36m32(rich: np.ndarray) -> np.ndarray:
    """(…, 25, 3) rich -> (…, 32, 3) H36M layout: joints 11 = hip, 16 = 24 = thorax (as in the real data)."""
    out = np.zeros(rich.shape[:-2] + (32, 3))
    src = {0: 0, 1: 1, 2: 2, 3: 3, 4: 18, 5: 20, 6: 4, 7: 5, 8: 6, 9: 17, 10: 19, 11: 0, 12: 7, 13: 8, 14: 9,
           15: 10, 16: 8, 17: 11, 18: 12, 19: 13, 20: 23, 21: 23, 22: 21, 23: 21, 24: 8, 25: 14, 26: 15, 27: 16,
           28: 24, 29: 24, 30: 22, 31: 22}
    for dst, s in src.items():
        out[..., dst, :] = rich[..., s, :]
    # sites sit a little beyond their parents
    for site, base, parent in ((21, 23, 13), (23, 21, 13), (29, 24, 16), (31, 22, 16)):
        out[..., site, :] = rich[..., base, :] + 0.3 * (rich[..., base, :] - rich[..., parent, :])
    return out


def to_mpi17(rich: np.ndarray) -> np.ndarray:
    """(…, 25, 3) -> (…, 17, 3) in `mpi17` order (head_top, neck, r_sho, …, pelvis 14, spine, head)."""
    order = (10, 8, 14, 15, 16, 11, 12, 13, 1, 2, 3, 4, 5, 6, 0, 7, 9)
    return rich[..., order, :]


def to_mpi28(rich: np.ndarray) -> np.ndarray:
    """(…, 25, 3) -> (…, 28, 3) 3DHP layout (spine points interpolated, clavicles between neck and shoulders)."""
    r = rich
    lerp = lambda a, b, w: (1 - w) * r[..., a, :] + w * r[..., b, :]  # noqa: E731
    pts = [lerp(7, 8, 0.5), lerp(7, 8, 0.85), lerp(0, 7, 0.75), r[..., 7, :], r[..., 0, :], r[..., 8, :],
           r[..., 9, :], r[..., 10, :], lerp(8, 11, 0.5), r[..., 11, :], r[..., 12, :], r[..., 13, :], r[..., 21, :],
           lerp(8, 14, 0.5), r[..., 14, :], r[..., 15, :], r[..., 16, :], r[..., 22, :], r[..., 4, :], r[..., 5, :],
           r[..., 6, :], r[..., 17, :], r[..., 19, :], r[..., 1, :], r[..., 2, :], r[..., 3, :], r[..., 18, :],
           r[..., 20, :]]
    return np.stack(pts, axis=-2)


def to_muco21(rich: np.ndarray) -> np.ndarray:
    """(…, 25, 3) -> (…, 21, 3): mpi17 order + right_hand, left_hand, right_toe, left_toe."""
    return np.concatenate([to_mpi17(rich), rich[..., [22, 21, 18, 17], :]], axis=-2)
