"""H36M adapter on synthetic raw data (real mp4 + cdf), camera table cross-checks, metadata.xml, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import cdflib
import numpy as np
import pytest

from pipeline.datasets import h36m
from pipeline.datasets.base import FAILED, TRUNCATED
from pipeline.datasets.h36m_cameras import (
    CAMERA_IDS,
    EXTRINSICS,
    INTRINSICS,
    builtin_camera,
    builtin_cameras,
    euler_to_matrix,
    parse_metadata_xml,
)
from pipeline.datasets.video import iter_video_frames
from pipeline.synth.encode import write_video
from pipeline.synth.h36m import EXTRA_VIDEO_FRAMES, camera_background, render_video_frames, sequence, synth_h36m
from schemas.camera import Camera, project, world_to_camera
from schemas.errors import InputError
from schemas.joints import convert

N = 5
CAMS = ["54138969", "58860488"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("h36m")
    synth_h36m(out, ["S1"], ["Directions 1", "TakingPhoto"], frames=N, seed=3, cameras=CAMS)
    return out


def test_round_trip(root):
    clips, skips = h36m.ADAPTER.list_clips(root)
    assert skips == []
    assert [(c.action, c.subaction, c.camera_id) for c in clips] == [
        ("Directions", "1", CAMS[0]), ("Directions", "1", CAMS[1]), ("Photo", "", CAMS[0]), ("Photo", "", CAMS[1])]
    assert clips[2].key == "S1/Photo/54138969"
    assert [c.fps for c in clips] == [50.0] * 4  # read from each mp4's header
    world = np.asarray(cdflib.CDF(str(root / "S1/MyPoseFeatures/D3_Positions/TakingPhoto.cdf"))["Pose"])
    assert world.shape == (1, N, 96)
    world17 = convert(world.reshape(N, 32, 3), "h36m32", "h36m17")
    for c in clips[2:]:
        cam = c.cameras[0]
        assert c.length == N and c.joint_set == "h36m17"
        np.testing.assert_allclose(c.pose3d_cam, world_to_camera(world17, cam.R_w2c, cam.t_w2c), atol=1e-2)
        # cross-check: GT 3D projected with the adapter's camera (with distortion) reproduces GT 2D
        assert np.abs(project(c.pose3d_cam, cam) - c.kp2d_gt).max() < 0.5
        assert (cam.width, cam.height) == ((1000, 1002) if cam.id == "54138969" else (1000, 1000))


def test_frames_match_render_and_truncate(root):
    clip = h36m.ADAPTER.list_clips(root, actions=["Directions"])[0][0]
    frames = list(clip.frames())
    assert len(frames) == N  # video has N + 2 frames; truncated to the mocap
    assert frames[0].shape == (1002, 1000, 3) and frames[0].dtype == np.uint8
    rich, colors = sequence("S1", "Directions 1", N + EXTRA_VIDEO_FRAMES, 3)
    cam = clip.cameras[0]
    ref = list(render_video_frames(rich[:N], colors, cam, camera_background(cam, "S1", 3)))
    for got, want in zip(frames, ref, strict=True):
        assert np.abs(got.astype(int) - want).mean() < 4.0
    # GT 2D sits on the rendered body: the pixel at the hip differs from the plain background
    bg = camera_background(cam, "S1", 3)
    x, y = np.round(clip.kp2d_gt[0, 0]).astype(int)
    assert np.abs(frames[0][y, x].astype(int) - bg[y, x]).sum() > 30


def test_stride_and_filters(root):
    clips, _ = h36m.ADAPTER.list_clips(root, subjects=["S1"], frame_stride=2, actions=["Photo"])
    assert len(clips) == 2
    np.testing.assert_array_equal(clips[0].frame, [0, 2, 4])
    assert len(list(clips[0].frames())) == 3


def test_builtin_table_published_values():
    cam = builtin_camera("S1", "54138969")
    np.testing.assert_allclose(cam.f, [1145.0494384765625, 1143.7811279296875])
    np.testing.assert_allclose(cam.c, [512.54150390625, 515.4514770507812])
    np.testing.assert_allclose(cam.p, [-0.00142447161488235, -0.0009756988729350269])  # p1 = b, p2 = a
    np.testing.assert_allclose(cam.center_world, [1841.1070556640625, 4955.28466796875, 1563.4454345703125])
    table = builtin_cameras()
    assert len(table) == 28
    for (subject, cid), c in table.items():
        np.testing.assert_allclose(c.R_w2c @ c.R_w2c.T, np.eye(3), atol=1e-6)
        assert np.linalg.det(c.R_w2c) == pytest.approx(1.0, abs=1e-6)
        # the capture volume centre (world origin, pelvis height) is in front of and inside every camera
        x = world_to_camera(np.array([0.0, 0.0, 900.0]), c.R_w2c, c.t_w2c)
        assert x[2] > 3000
        u, v = project(x, c)
        assert 0 < u < c.width and 0 < v < c.height, (subject, cid)


def test_tangential_mapping_matches_h36m_model():
    """Brown (p1 = b, p2 = a) vs H36M's own model [a, b]: sub-pixel over the image."""
    for cid in CAMERA_IDS:
        c, f, k, (a, b) = INTRINSICS[cid]
        cam = builtin_camera("S9", cid)
        g = np.stack(np.meshgrid(np.linspace(-0.4, 0.4, 9), np.linspace(-0.4, 0.4, 9)), -1).reshape(-1, 2)
        r2 = (g ** 2).sum(-1, keepdims=True)
        radial = 1 + k[0] * r2 + k[1] * r2 ** 2 + k[2] * r2 ** 3
        tan = a * g[:, :1] + b * g[:, 1:]
        h36m_px = (g * (radial + tan) + np.array([a, b]) * r2) * f + c
        ours = project(np.concatenate([g, np.ones((len(g), 1))], -1), cam)
        assert np.abs(ours - h36m_px).max() < 1.0


def _w0_layout(cams: dict[tuple[str, str], Camera]) -> str:
    """The real metadata.xml w0 layout, written independently of the parser."""
    w0 = np.zeros(300)
    for ci, cid in enumerate(CAMERA_IDS):
        for s in range(1, 12):
            cam = cams.get((f"S{s}", cid))
            if cam is None:
                continue
            R = cam.R_w2c  # = Rx(rx) Ry(ry) Rz(rz)
            rx, ry, rz = np.arctan2(-R[1, 2], R[2, 2]), np.arcsin(R[0, 2]), np.arctan2(-R[0, 1], R[0, 0])
            w0[6 * (ci * 11 + s - 1): 6 * (ci * 11 + s)] = [rx, ry, rz, *cam.center_world]
            (cx, cy), (fx, fy), k, (a, b) = INTRINSICS[cid]
            w0[264 + 9 * ci: 264 + 9 * ci + 9] = [fx, fy, cx, cy, *k, a, b]
    items = "".join(f"<item>{c}</item>" for c in CAMERA_IDS)
    return (f"<metadata><dbcameras><index2id>{items}</index2id></dbcameras>"
            f"<w0>[{' '.join(repr(float(v)) for v in w0)}]</w0></metadata>")


def test_metadata_xml_parses_to_builtin(tmp_path):
    path = tmp_path / "metadata.xml"
    path.write_text(_w0_layout(builtin_cameras()))
    parsed = parse_metadata_xml(path)
    assert len(parsed) == 44
    for key, want in builtin_cameras().items():
        got = parsed[key]
        for name in ("f", "c", "k", "p", "R_w2c", "t_w2c"):
            np.testing.assert_allclose(getattr(got, name), getattr(want, name), atol=1e-6, err_msg=f"{key} {name}")
        assert (got.width, got.height) == (want.width, want.height)
    np.testing.assert_allclose(euler_to_matrix(0, 0, np.pi / 2), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)


def test_adapter_uses_metadata_xml(root, tmp_path):
    shutil.copytree(root, tmp_path / "r")
    ref = h36m.ADAPTER.list_clips(root)[0]
    (tmp_path / "r" / "metadata.xml").write_text(_w0_layout(builtin_cameras()))
    got = h36m.ADAPTER.list_clips(tmp_path / "r")[0]
    for a, b in zip(ref, got, strict=True):
        np.testing.assert_allclose(a.kp2d_gt, b.kp2d_gt, atol=1e-3)
    rows = h36m.ADAPTER.camera_table(tmp_path / "r")
    assert len(rows) == 44 and rows[0]["subject"] == "S1"
    (tmp_path / "r" / "metadata.xml").write_text("<metadata><nothing/></metadata>")
    with pytest.raises(InputError, match="metadata.xml"):
        h36m.ADAPTER.list_clips(tmp_path / "r")


def test_missing_root_and_subject(root, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        h36m.ADAPTER.list_clips(tmp_path / "nope")
    with pytest.raises(InputError, match="S7"):
        h36m.ADAPTER.list_clips(root, subjects=["S7"])


def test_skips_no_pose_unknown_camera_s11(root, tmp_path):
    r = tmp_path / "r"
    shutil.copytree(root, r)
    vids = r / "S1" / "Videos"
    shutil.copy(vids / "Directions 1.54138969.mp4", vids / "Eating 2.54138969.mp4")
    shutil.copy(vids / "Directions 1.54138969.mp4", vids / "Directions 1.12345678.mp4")
    clips, skips = h36m.ADAPTER.list_clips(r)
    assert len(clips) == 4
    reasons = {Path(s.source).name: s.reason for s in skips}
    assert "no pose file" in reasons["Eating 2.54138969.mp4"]
    assert "12345678" in reasons["Directions 1.12345678.mp4"]
    with pytest.raises(InputError, match="12345678"):
        builtin_camera("S1", "12345678")
    with pytest.raises(InputError, match="S2"):
        builtin_camera("S2", "54138969")
    s11 = tmp_path / "s11"
    synth_h36m(s11, ["S11"], ["Directions"], frames=2, seed=0, cameras=["54138969"])
    clips, skips = h36m.ADAPTER.list_clips(s11)
    assert clips == [] and len(skips) == 1 and "corrupt" in skips[0].reason


def test_truncated_and_garbage_video(root, tmp_path):
    r = tmp_path / "r"
    shutil.copytree(root, r)
    video = r / "S1" / "Videos" / "Directions 1.54138969.mp4"
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    clip = h36m.ADAPTER.list_clips(r, actions=["Directions 1"])[0][0]
    with pytest.raises(InputError, match="Directions 1.54138969.mp4"):
        list(clip.frames())
    video.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(InputError, match="Directions 1.54138969.mp4"):
        list(clip.frames())


def test_bad_pose_file_fails_its_clips_alone(root, tmp_path):
    r = tmp_path / "r"
    shutil.copytree(root, r)
    all_clips = h36m.ADAPTER.list_clips(r)[0]
    cdf = r / "S1/MyPoseFeatures/D3_Positions/TakingPhoto.cdf"
    data = cdf.read_bytes()
    for bad, what in ((b"not a cdf", "cannot read as an H36M pose .cdf"), (data[: len(data) // 2], "truncated"),
                      (b"", "the file is empty (0 bytes)")):
        cdf.write_bytes(bad)
        clips, skips = h36m.ADAPTER.list_clips(r)
        failed = [s for s in skips if s.kind == FAILED]
        assert [s.source for s in failed] == [str(cdf)] and failed[0].clip == "S1/Photo/*"
        assert what in failed[0].reason and "--actions" in failed[0].reason, failed[0].reason
        assert [c.key for c in clips] == [c.key for c in all_clips if c.action != "Photo"]


def test_mocap_longer_than_its_video_is_truncated_with_a_note(root, tmp_path):
    r = tmp_path / "r"
    shutil.copytree(root, r)
    video = r / "S1" / "Videos" / "Directions 1.54138969.mp4"
    write_video(video, list(iter_video_frames(root / "S1" / "Videos" / video.name, [0])), 50)  # 1 frame of N
    clips, skips = h36m.ADAPTER.list_clips(r, actions=["Directions 1"])
    clip = next(c for c in clips if c.camera_id == "54138969")
    assert clip.length == 1 and len(list(clip.frames())) == 1
    note = [s for s in skips if s.kind == TRUNCATED]
    assert [s.source for s in note] == [str(video)]
    assert f"the mocap has {N} frames, the video 1: rows truncated to the video's 1" in note[0].reason


def test_subjects_with_builtin_extrinsics():
    assert set(EXTRINSICS) == {"S1", "S5", "S6", "S7", "S8", "S9", "S11"}
