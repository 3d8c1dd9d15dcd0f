"""Joint sets (names, skeleton parents, left/right symmetry, root) and the index maps between them.

Index maps follow the published lists (VideoPose3D, mpii_get_joint_set.m, 3DMPPE MuCo.py);
`tests/test_joints.py` holds them as golden values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JointSet:
    """A skeleton definition. `parents[root] == -1`; `left[i]` mirrors `right[i]`."""

    name: str
    names: tuple[str, ...]
    parents: tuple[int, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    root: int

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def flip_permutation(self) -> np.ndarray:
        """(J,) int64: index array swapping left and right joints (an involution)."""
        perm = np.arange(self.num_joints)
        perm[list(self.left)] = self.right
        perm[list(self.right)] = self.left
        return perm

    def bones(self) -> list[tuple[int, int]]:
        """(parent, child) pairs of the skeleton."""
        return [(p, c) for c, p in enumerate(self.parents) if p >= 0]

    def index(self, name: str) -> int:
        return self.names.index(name)


H36M_32 = JointSet(
    name="h36m32",
    names=(
        "Hip", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase", "RightToeSite",
        "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "LeftToeSite",
        "Spine", "Spine1", "Neck", "Head", "HeadSite",
        "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LeftHandThumb", "LeftThumbSite",
        "LeftWristEnd", "LeftWristSite",
        "RightShoulder", "RightArm", "RightForeArm", "RightHand", "RightHandThumb", "RightThumbSite",
        "RightWristEnd", "RightWristSite",
    ),
    parents=(-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12, 16, 17, 18, 19, 20, 19, 22,
             12, 24, 25, 26, 27, 28, 27, 30),
    left=(6, 7, 8, 9, 10, 16, 17, 18, 19, 20, 21, 22, 23),
    right=(1, 2, 3, 4, 5, 24, 25, 26, 27, 28, 29, 30, 31),
    root=0,
)

H36M_17 = JointSet(
    name="h36m17",
    names=("Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax", "Neck/Nose",
           "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist"),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    left=(4, 5, 6, 11, 12, 13),
    right=(1, 2, 3, 14, 15, 16),
    root=0,
)

MPI_28 = JointSet(
    name="mpi28",
    names=("spine3", "spine4", "spine2", "spine", "pelvis", "neck", "head", "head_top",
           "left_clavicle", "left_shoulder", "left_elbow", "left_wrist", "left_hand",
           "right_clavicle", "right_shoulder", "right_elbow", "right_wrist", "right_hand",
           "left_hip", "left_knee", "left_ankle", "left_foot", "left_toe",
           "right_hip", "right_knee", "right_ankle", "right_foot", "right_toe"),
    parents=(2, 0, 3, 4, -1, 1, 5, 6, 1, 8, 9, 10, 11, 1, 13, 14, 15, 16,
             4, 18, 19, 20, 21, 4, 23, 24, 25, 26),
    left=(8, 9, 10, 11, 12, 18, 19, 20, 21, 22),
    right=(13, 14, 15, 16, 17, 23, 24, 25, 26, 27),
    root=4,
)

_MPI17_NAMES = ("head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
                "left_knee", "left_ankle", "pelvis", "spine", "head")
_MPI17_PARENTS = (16, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, -1, 14, 1)

MPI_17 = JointSet(
    name="mpi17",
    names=_MPI17_NAMES,
    parents=_MPI17_PARENTS,
    left=(5, 6, 7, 11, 12, 13),
    right=(2, 3, 4, 8, 9, 10),
    root=14,
)

MUCO_21 = JointSet(
    name="muco21",
    names=_MPI17_NAMES + ("right_hand", "left_hand", "right_toe", "left_toe"),
    parents=_MPI17_PARENTS + (4, 7, 10, 13),
    left=(5, 6, 7, 11, 12, 13, 18, 20),
    right=(2, 3, 4, 8, 9, 10, 17, 19),
    root=14,
)

JOINT_SETS: dict[str, JointSet] = {j.name: j for j in (H36M_32, H36M_17, MPI_28, MPI_17, MUCO_21)}

# target-joint i takes source-joint MAP[i]
H36M32_TO_H36M17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)  # VideoPose3D remove_joints
MPI28_TO_MPI17 = (7, 5, 14, 15, 16, 9, 10, 11, 23, 24, 25, 18, 19, 20, 4, 3, 6)  # mpii_get_joint_set 'relevant'
MPI17_TO_H36M17 = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)  # "hp3d2h36m"
MPI28_TO_H36M17 = (4, 23, 24, 25, 18, 19, 20, 3, 5, 6, 7, 9, 10, 11, 14, 15, 16)
MUCO21_TO_H36M17 = MPI17_TO_H36M17  # MuCo-21 = 3DHP-17 order + hands and toes

_MAPS: dict[tuple[str, str], tuple[int, ...]] = {
    ("h36m32", "h36m17"): H36M32_TO_H36M17,
    ("mpi28", "mpi17"): MPI28_TO_MPI17,
    ("mpi17", "h36m17"): MPI17_TO_H36M17,
    ("mpi28", "h36m17"): MPI28_TO_H36M17,
    ("muco21", "h36m17"): MUCO21_TO_H36M17,
    ("muco21", "mpi17"): tuple(range(17)),
}


def joint_map(source: str, target: str) -> np.ndarray:
    """(J_target,) int64 index array: `x_target = x_source[..., idx, :]`."""
    if source == target:
        return np.arange(JOINT_SETS[source].num_joints)
    try:
        return np.asarray(_MAPS[(source, target)], dtype=np.int64)
    except KeyError:
        known = ", ".join(f"{a}->{b}" for a, b in _MAPS)
        raise KeyError(f"no joint map {source}->{target}; known maps: {known}") from None


def convert(x: np.ndarray, source: str, target: str) -> np.ndarray:
    """Select joints: (..., J_source, D) -> (..., J_target, D)."""
    return np.take(x, joint_map(source, target), axis=-2)
