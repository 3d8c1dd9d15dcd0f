"""Human3.6M cameras: the published constants (VideoPose3D `common/h36m_dataset.py`) and the `metadata.xml` parser.

Conventions of the sources and how they map onto `schemas.camera.Camera` (x_cam = R_w2c @ x_world + t_w2c, mm):
- VideoPose3D `orientation` is a unit quaternion (w, x, y, z) rotating camera -> world, `translation` is the camera
  centre C in world mm. Hence R_w2c = R_c2w^T and t_w2c = -R_w2c @ C.
- `metadata.xml` (`w0` vector, as parsed by mmpose's `preprocess_h36m.py`): per (camera, subject) 6 numbers
  [rx, ry, rz, Cx, Cy, Cz] at 6 * (cam * 11 + subject - 1); per camera 9 intrinsics [fx, fy, cx, cy, k1, k2, k3,
  a, b] at 264 + 9 * cam. R_w2c = Rx(rx) @ Ry(ry) @ Rz(rz) (right-handed elementary rotations), C in world mm.
- Tangential distortion: H36M's own model (and VideoPose3D's `project_to_2d`) with [a, b] is
  x' = x (radial + a x + b y) + a r², y' = y (radial + a x + b y) + b r². Brown/OpenCV (`schemas.camera.distort`) is
  x' = x radial + 2 p1 x y + p2 (r² + 2 x²), y' = y radial + p1 (r² + 2 y²) + 2 p2 x y. The r² terms match for
  p1 = b, p2 = a, which we store; the cross terms then differ by a factor 2 (a x² vs 2 a x², b x y vs 2 b x y), i.e.
  below a pixel for |a|, |b| < 2e-3 as in every H36M camera. GT 2D is always computed with our Brown model, so
  ground truth and rendered/decoded pixels stay consistent.
- Image size: 1000 x 1002 for 54138969 and 60457274, else 1000 x 1000.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from schemas.camera import Camera, quaternion_to_matrix
from schemas.errors import InputError

# VideoPose3D camera order: index i of positions_2d[subject][action][i]
CAMERA_IDS: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")
SUBJECTS_ANNOTATED: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
IMAGE_SIZE: dict[str, tuple[int, int]] = {"54138969": (1000, 1002), "55011271": (1000, 1000),
                                          "58860488": (1000, 1000), "60457274": (1000, 1002)}

# id: (center cx, cy px), (focal fx, fy px), radial k1..k3, tangential [a, b] in H36M/VideoPose3D order
INTRINSICS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float, float],
                            tuple[float, float]]] = {
    "54138969": ((512.54150390625, 515.4514770507812), (1145.0494384765625, 1143.7811279296875),
                 (-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
                 (-0.0009756988729350269, -0.00142447161488235)),
    "55011271": ((508.8486328125, 508.0649108886719), (1149.6756591796875, 1147.5916748046875),
                 (-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
                 (-0.0016190266469493508, -0.0027408944442868233)),
    "58860488": ((519.8158569335938, 501.40264892578125), (1149.1407470703125, 1148.7989501953125),
                 (-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
                 (0.0014843869721516967, -0.0007599993259645998)),
    "60457274": ((514.9682006835938, 501.88201904296875), (1145.5113525390625, 1144.77392578125),
                 (-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
                 (-0.0005872055771760643, -0.0018133620033040643)),
}

# subject: per camera (VideoPose3D order) (quaternion camera->world (w, x, y, z), camera centre in world mm)
EXTRINSICS: dict[str, list[tuple[tuple[float, float, float, float], tuple[float, float, float]]]] = {
    "S1": [
        ((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
         (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
        ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
         (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
        ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
         (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
        ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
         (-1794.7896728515625, -3722.698974609375, 1574.8927001953125)),
    ],
    "S5": [
        ((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
         (2097.3916015625, 4880.94482421875, 1605.732421875)),
        ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
         (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
        ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
         (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
        ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
         (-1637.1737060546875, -3867.3173828125, 1547.033203125)),
    ],
    "S6": [
        ((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
         (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
        ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
         (1969.803955078125, -5128.73876953125, 1632.77880859375)),
        ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
         (-1769.596435546875, 5185.361328125, 1476.993408203125)),
        ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
         (-1721.668701171875, -3884.13134765625, 1540.4879150390625)),
    ],
    "S7": [
        ((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
         (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
        ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
         (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
        ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
         (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
        ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
         (-1734.7105712890625, -3832.42138671875, 1548.5830078125)),
    ],
    "S8": [
        ((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
         (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
        ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
         (2219.965576171875, -5148.453125, 1613.0440673828125)),
        ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
         (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
        ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
         (-1476.913330078125, -3896.7412109375, 1547.97216796875)),
    ],
    "S9": [
        ((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
         (2044.45849609375, 4935.1171875, 1481.2275390625)),
        ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
         (1990.959716796875, -5123.810546875, 1568.8048095703125)),
        ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
         (-1670.9921875, 5211.98583984375, 1528.387939453125)),
        ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
         (-1696.04345703125, -3827.099853515625, 1591.4127197265625)),
    ],
    "S11": [
        ((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
         (2098.440185546875, 4926.5546875, 1500.278564453125)),
        ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
         (2083.182373046875, -4912.1728515625, 1561.07861328125)),
        ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
         (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
        ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
         (-1590.738037109375, -3854.1689453125, 1578.017578125)),
    ],
}


def _intrinsics_camera(cam_id: str, R_w2c: np.ndarray, t_w2c: np.ndarray, f, c, k, ab) -> Camera:
    w, h = IMAGE_SIZE.get(cam_id, (1000, 1000))
    return Camera(f=f, c=c, k=k, p=[ab[1], ab[0]], R_w2c=R_w2c, t_w2c=t_w2c, width=w, height=h, id=cam_id)


def camera_index(camera_id: str) -> int:
    """VideoPose3D index (0..3) of an H36M camera id; InputError listing the known ids otherwise."""
    try:
        return CAMERA_IDS.index(str(camera_id))
    except ValueError:
        raise InputError(f"camera id {camera_id!r} is not an H36M camera; known ids: {', '.join(CAMERA_IDS)}") \
            from None


def builtin_camera(subject: str, camera_id: str) -> Camera:
    """The published camera of (subject, camera id); InputError if either is not in the table."""
    idx = camera_index(camera_id)
    if subject not in EXTRINSICS:
        raise InputError(f"subject {subject!r} has no built-in H36M extrinsics (known: "
                         f"{', '.join(EXTRINSICS)}); pass the dataset's metadata.xml (put it at <root>/metadata.xml)")
    quat, centre = EXTRINSICS[subject][idx]
    R_w2c = quaternion_to_matrix(np.asarray(quat)).T
    t_w2c = -R_w2c @ np.asarray(centre, dtype=np.float64)
    c, f, k, ab = INTRINSICS[camera_id]
    return _intrinsics_camera(camera_id, R_w2c, t_w2c, f, c, k, ab)


def builtin_cameras() -> dict[tuple[str, str], Camera]:
    """{(subject, camera id): Camera} for the 7 annotated subjects × 4 cameras."""
    return {(s, cid): builtin_camera(s, cid) for s in EXTRINSICS for cid in CAMERA_IDS}


def euler_to_matrix(rx: float, ry: float, rz: float) -> np.ndarray:
    """(3, 3) R_w2c = Rx(rx) @ Ry(ry) @ Rz(rz), angles in radians (metadata.xml convention)."""
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rx @ Ry @ Rz


def matrix_to_euler(R: np.ndarray) -> tuple[float, float, float]:
    """Inverse of `euler_to_matrix` (for |ry| < 90°): (rx, ry, rz) radians."""
    ry = float(np.arcsin(np.clip(R[0, 2], -1, 1)))
    rx = float(np.arctan2(-R[1, 2], R[2, 2]))
    rz = float(np.arctan2(-R[0, 1], R[0, 0]))
    return rx, ry, rz


def parse_metadata_xml(path: Path) -> dict[tuple[str, str], Camera]:
    """Cameras of all 11 subjects from the dataset's `metadata.xml`: {(subject, camera id): Camera}."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise InputError(f"{path}: cannot parse as H36M metadata.xml ({e}); fix or remove the file to use the "
                         "built-in camera table") from None
    w0 = root.find("w0")
    if w0 is None or not (w0.text or "").strip():
        raise InputError(f"{path}: no <w0> camera vector; this is not the H36M metadata.xml")
    try:
        vals = np.array([float(v) for v in w0.text.strip().strip("[]").split()])
    except ValueError as e:
        raise InputError(f"{path}: <w0> is not a list of numbers ({e})") from None
    if vals.size < 264 + 36:
        raise InputError(f"{path}: <w0> has {vals.size} numbers, expected 300 (6 x 44 extrinsics + 4 x 9 intrinsics)")
    ids_el = root.find("dbcameras/index2id")
    ids = [e.text.strip() for e in ids_el] if ids_el is not None and len(ids_el) else list(CAMERA_IDS)
    cams: dict[tuple[str, str], Camera] = {}
    for ci, cid in enumerate(ids[:4]):
        intr = vals[264 + 9 * ci: 264 + 9 * (ci + 1)]
        for s in range(1, 12):
            ext = vals[6 * (ci * 11 + s - 1): 6 * (ci * 11 + s - 1) + 6]
            R_w2c = euler_to_matrix(*ext[:3])
            t_w2c = -R_w2c @ ext[3:6]
            cams[(f"S{s}", cid)] = _intrinsics_camera(cid, R_w2c, t_w2c, intr[0:2], intr[2:4], intr[4:7], intr[7:9])
    return cams


def metadata_w0(cams: dict[tuple[str, str], Camera]) -> np.ndarray:
    """(300,) the `w0` vector for {(subject, camera id): Camera} in the metadata.xml layout (inverse of the parser;
    subjects missing from `cams` get zeros). Used to write test/synthetic metadata.xml files."""
    w0 = np.zeros(300)
    for ci, cid in enumerate(CAMERA_IDS):
        for s in range(1, 12):
            cam = cams.get((f"S{s}", cid))
            if cam is None:
                continue
            w0[6 * (ci * 11 + s - 1): 6 * (ci * 11 + s - 1) + 6] = [*matrix_to_euler(cam.R_w2c), *cam.center_world]
            w0[264 + 9 * ci: 264 + 9 * (ci + 1)] = [*cam.f, *cam.c, *cam.k, cam.p[1], cam.p[0]]
    return w0


def write_metadata_xml(path: Path, cams: dict[tuple[str, str], Camera]) -> None:
    """Write a minimal metadata.xml (<w0> and <dbcameras><index2id>) that `parse_metadata_xml` reads."""
    w0 = " ".join(f"{v:.17g}" for v in metadata_w0(cams))
    items = "".join(f"<item>{cid}</item>" for cid in CAMERA_IDS)
    Path(path).write_text(f"<?xml version=\"1.0\"?>\n<metadata><dbcameras><index2id>{items}</index2id></dbcameras>"
                          f"<w0>[{w0}]</w0></metadata>\n")
