"""Detail kept: how much fine structure a swapped face has against the face it replaced.

A swap that outputs a smooth oval (no eye whites, no lip line, no skin texture) still follows the
pose and can fool an identity descriptor; it cannot fake the Laplacian. The measure of one picture
is the Laplacian's share of its contrast inside the inner face (the 68-landmark hull, shrunk so
that the face's outline and the blend seam are left out): the variance of the grey image's
Laplacian over the variance of the grey image (`faces.quality.laplacian_share`). The figure is
the swapped picture's over the source's, in the same frame and the same region: 1 for an untouched
face, far below 1 for a blur.

A share, not the Laplacian's variance itself (as until 2026-12-06): the variance follows the
face's contrast, so it said how much make-up, light and texture a person has as much as how sharp
the face is. The shared clips' talking heads differed 4.3x in it (d6 against d18; as shares 1.3x),
a perfect swap of d6 onto the plainer d9 could keep no more than ~0.4 of it, and the conversion's
colour transfer moved it (capping the spread's widening at 1.5x lowered a d6->d9 swap's figure
from 0.24 to 0.18; as a share 0.25 both ways).

Both faces are first brought to one size, `DETAIL_FACE_PX` (the square root of the landmark
hull's area; larger faces are shrunk by area averaging, smaller ones left as they are). At a
video's own scale the Laplacian is the finest pixels' (noise, compression): there a perfect 64 px
model kept 0.05-0.08 of a 480p face's detail, a perfect 128 px one 0.09-0.16 and a 1 px blur
0.06-0.10, so no model of this project could pass and the same swap scored differently at every
resolution. With the face at 40 px what varies is the eyes, brows, nostrils and lip line. On d9's
and d18's faces (`benchmarks/detail_scale.py`) a perfect 64 px model pasted into the aligned crop
keeps 0.49-0.54 (a 64 px face upscaled onto a 480p one looks soft: it stays below the verdict's
0.6), 0.71-0.78 through the conversion into the frame, a perfect 128 px one 0.69-0.71, a perfect
256 px one 0.91, a 1 px blur 0.58-0.59, a 2 px blur 0.25-0.27 and a 4 px blur 0.07-0.08.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceswap_pipeline.compositing.masks import face_size
from faceswap_pipeline.faces.quality import laplacian_share

# The hull is shrunk by this share of the face's size: the jaw line and the seam of the blend (the
# conversion's mask is eroded by 0.03 and feathered over 0.08 of the face) are edges of the
# compositing, not detail of the face.
INNER_FACE_EROSION = 0.12
# The face size (square root of the landmark hull's area, px) at which detail is compared.
DETAIL_FACE_PX = 40.0


def inner_face_mask(landmarks68: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The inner face: the landmark hull shrunk by `INNER_FACE_EROSION` of the face's size.

    Args:
        landmarks68: ``(68, 2)`` float x, y in pixels of the image.
        shape: ``(height, width)`` of the image.

    Returns:
        ``(height, width)`` bool.
    """
    points = np.asarray(landmarks68, dtype=np.float64).reshape(68, 2)
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    erode_px = int(round(INNER_FACE_EROSION * face_size(points)))
    if erode_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode_px + 1, 2 * erode_px + 1))
        mask = cv2.erode(mask, kernel)
    return mask.astype(bool)


def inner_faces(
    images: list[np.ndarray], landmarks68: np.ndarray, face_px: float | None
) -> tuple[list[np.ndarray], np.ndarray] | None:
    """The face's box of each same-size picture, brought to `face_px` (area-averaged down; a
    smaller face is left as it is), and the inner-face mask there; None when the box is too small.
    """
    height, width = images[0].shape[:2]
    points = np.asarray(landmarks68, dtype=np.float64).reshape(68, 2)
    # Only the face's box is filtered (+1 px for the Laplacian's kernel): frames can be 4K.
    left, top = (int(max(0, np.floor(v) - 1)) for v in points.min(axis=0))
    right = int(min(width, np.ceil(points[:, 0].max()) + 2))
    bottom = int(min(height, np.ceil(points[:, 1].max()) + 2))
    if right - left < 3 or bottom - top < 3:
        return None
    faces = [np.ascontiguousarray(image[top:bottom, left:right]) for image in images]
    points = points - (left, top)
    scale = face_px / face_size(points) if face_px else 1.0
    if scale < 1.0:
        # Area averaging: what a viewer's eye does to a face seen smaller, without aliasing.
        size = (max(3, round(faces[0].shape[1] * scale)), max(3, round(faces[0].shape[0] * scale)))
        faces = [cv2.resize(face, size, interpolation=cv2.INTER_AREA) for face in faces]
        points = points * (size[0] / (right - left), size[1] / (bottom - top))
    return faces, inner_face_mask(points, faces[0].shape[:2])


def mouth_opening(landmarks68: np.ndarray) -> float:
    """How far the mouth is open: the gap between the inner lips (landmarks 61-63 against 67-65)
    over the face's size (the square root of the landmark hull's area); 0 for a shut mouth, ~0.15
    for a wide-open one."""
    points = np.asarray(landmarks68, dtype=np.float64).reshape(68, 2)
    gap = np.linalg.norm(points[[61, 62, 63]] - points[[67, 66, 65]], axis=1).mean()
    return float(gap / face_size(points))


def target_own_detail(
    source_detail: np.ndarray,
    source_mouths: np.ndarray,
    target_detail: np.ndarray,
    target_mouths: np.ndarray,
    matched: int = 5,
) -> float:
    """What a perfect swap onto the target would score on `detail_ratio`, stood in for by the
    target's own faces: for each source face, the median detail of the `matched` target faces whose
    mouths open the most alike (an open mouth's lips and teeth are much of a face's detail) over
    the source face's; the median over the source faces.

    The swap keeps the source's expression, which the target's faces may never make (rolled-up
    eyes, a tongue out): the figure matches the mouth only, so read it as the detail the target's
    face has, not as a ceiling. Nor is it a quality bar: d9's mouth never opens past 0.09 of his
    face where d6's held-out faces open to 0.23 (tongue and teeth), so his "matching" faces have
    half-shut mouths and a blurred 64 px swap of d6 onto d9 scores about what they do (0.23 against
    0.27). For analysis (`benchmarks/swap_detail.py`), not for the evaluation's report.

    Args:
        source_detail, source_mouths: ``(N,)`` each source face's `inner_face_detail` and
            `mouth_opening`.
        target_detail, target_mouths: ``(M,)`` the same of the target's faces (drawn as the model
            would draw them, e.g. their own model regions pasted back, for the model's ceiling).
        matched: target faces per source face.

    Returns:
        The ratio (NaN when either side has no measurable face).
    """
    target_detail, target_mouths = np.asarray(target_detail), np.asarray(target_mouths)
    usable = np.isfinite(target_detail) & np.isfinite(target_mouths)
    target_detail, target_mouths = target_detail[usable], target_mouths[usable]
    if not len(target_detail):
        return float("nan")
    ratios = []
    for detail, mouth in zip(source_detail, source_mouths, strict=True):
        if not (np.isfinite(detail) and np.isfinite(mouth)) or detail <= 1e-6:
            continue
        # Stable: ties (many shut mouths) pick the same faces whatever the sort does.
        nearest = np.argsort(np.abs(target_mouths - mouth), kind="stable")[:matched]
        ratios.append(float(np.median(target_detail[nearest])) / detail)
    return float(np.median(ratios)) if ratios else float("nan")


def inner_face_detail(
    image_rgb: np.ndarray, landmarks68: np.ndarray, face_px: float | None = DETAIL_FACE_PX
) -> float:
    """Fine detail of one face: the Laplacian's share of the contrast inside its inner region, the
    face at `face_px` (`detail_ratio`'s measure of one picture; what differs between people).

    Args:
        image_rgb: ``(H, W, 3)`` uint8 RGB.
        landmarks68: ``(68, 2)`` the face's landmarks in pixels of the image.
        face_px: the face size it is measured at (None: the picture's own scale).

    Returns:
        The share (>= 0; 0 for a flat face; NaN when the region is empty).
    """
    faces = inner_faces([image_rgb], landmarks68, face_px)
    if faces is None:
        return float("nan")
    (face,), mask = faces
    return laplacian_share(face, mask)


def detail_ratio(
    output_rgb: np.ndarray,
    source_rgb: np.ndarray,
    landmarks68: np.ndarray,
    face_px: float | None = DETAIL_FACE_PX,
) -> float:
    """Fine detail of the swapped face over the source face's, inside the source face's inner
    region, both at `face_px`.

    Args:
        output_rgb: ``(H, W, 3)`` uint8 RGB, the swapped picture.
        source_rgb: ``(H, W, 3)`` uint8 RGB, the source picture (same size).
        landmarks68: ``(68, 2)`` the source face's landmarks in pixels (the region measured in
            both).
        face_px: the face size both are compared at (None: the pictures' own scale).

    Returns:
        The ratio of the Laplacian's shares of the contrast, output / source (>= 0; 0 for a flat
        output; NaN when the region is empty or flat in the source).
    """
    if output_rgb.shape != source_rgb.shape:
        raise ValueError(
            f"output {output_rgb.shape} and source {source_rgb.shape} must be the same size"
        )
    faces = inner_faces([source_rgb, output_rgb], landmarks68, face_px)
    if faces is None:
        return float("nan")
    (source, output), mask = faces
    source = laplacian_share(source, mask)
    output = laplacian_share(output, mask)
    if not np.isfinite(source) or source <= 1e-6:
        return float("nan")
    return float(output / source)
