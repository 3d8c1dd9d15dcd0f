"""Joint sets and index maps against the published lists (reference-projects.md)."""

from __future__ import annotations

import numpy as np
import pytest

from schemas.joints import H36M_17, H36M_32, JOINT_SETS, MPI_17, MPI_28, MUCO_21, convert, joint_map

# VideoPose3D remove_joints([4,5,9,10,11,16,20,21,22,23,24,28,29,30,31]) keeps these
VP3D_REMOVED = [4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31]
MPI_RELEVANT = [7, 5, 14, 15, 16, 9, 10, 11, 23, 24, 25, 18, 19, 20, 4, 3, 6]  # mpii_get_joint_set 'relevant'
HP3D2H36M = [14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4]
MPI28_TO_H36M = [4, 23, 24, 25, 18, 19, 20, 3, 5, 6, 7, 9, 10, 11, 14, 15, 16]


def test_h36m_32_to_17_is_videopose3d_selection():
    kept = [i for i in range(32) if i not in VP3D_REMOVED]
    assert joint_map("h36m32", "h36m17").tolist() == kept
    # CA-PF lists 16 instead of 13 at position 8: in the mocap both sit at the neck; names agree on ours
    assert [H36M_32.names[i] for i in kept[7:11]] == ["Spine1", "Neck", "Head", "HeadSite"]


def test_mpi_maps_and_their_composition():
    assert joint_map("mpi28", "mpi17").tolist() == MPI_RELEVANT
    assert joint_map("mpi17", "h36m17").tolist() == HP3D2H36M
    assert joint_map("mpi28", "h36m17").tolist() == MPI28_TO_H36M
    # 28 -> 17 -> H36M equals the direct map
    assert np.array(MPI_RELEVANT)[HP3D2H36M].tolist() == MPI28_TO_H36M
    assert [MPI_28.names[i] for i in MPI_RELEVANT] == list(MPI_17.names)
    assert MPI_17.root == 14 and MPI_17.names[14] == "pelvis"


def test_muco_21_is_mpi17_plus_hands_and_toes():
    assert MUCO_21.names[:17] == MPI_17.names
    assert MUCO_21.names[17:] == ("right_hand", "left_hand", "right_toe", "left_toe")
    assert joint_map("muco21", "h36m17").tolist() == HP3D2H36M


@pytest.mark.parametrize("js", list(JOINT_SETS.values()), ids=lambda j: j.name)
def test_skeletons_are_trees_and_symmetry_is_an_involution(js):
    assert js.parents[js.root] == -1 and sum(p == -1 for p in js.parents) == 1
    for j in range(js.num_joints):  # every joint reaches the root
        seen, k = set(), j
        while k != -1:
            assert k not in seen
            seen.add(k)
            k = js.parents[k]
    perm = js.flip_permutation()
    assert (perm[perm] == np.arange(js.num_joints)).all()
    assert len(js.left) == len(js.right) and not set(js.left) & set(js.right)


def test_h36m17_semantics_match_videopose3d():
    assert H36M_17.left == (4, 5, 6, 11, 12, 13) and H36M_17.right == (1, 2, 3, 14, 15, 16)
    assert H36M_17.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)


def test_convert_and_unknown_map():
    x = np.arange(28 * 3, dtype=float).reshape(1, 28, 3)
    y = convert(x, "mpi28", "h36m17")
    assert y.shape == (1, 17, 3) and (y[0, 0] == x[0, 4]).all()
    with pytest.raises(KeyError, match="no joint map h36m17->mpi28"):
        joint_map("h36m17", "mpi28")
