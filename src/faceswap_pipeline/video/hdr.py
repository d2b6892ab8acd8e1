"""HDR video (HLG or PQ, BT.2020: what phones film by default) as the SDR picture the rest of the
pipeline works on and writes: BT.709 primaries, BT.1886 gamma, 8 bits.

Decoded as if it were SDR, an HLG clip comes out dark and grey (d18 made HLG: mean level 112
against 129, saturation 40 against 47). Here its light is undone to linear (BT.2100), put on a
display of the SDR reference white (203 nits, BT.2408), moved into BT.709's primaries, its
highlights above 75 % of that white rolled off smoothly into the SDR range, and encoded with the SDR
display's gamma. The per-channel steps are lookup tables.
"""

from __future__ import annotations

import functools

import av
import numpy as np

# FFmpeg's transfer characteristics (AVColorTransferCharacteristic) that mark HDR video.
TRC_PQ, TRC_HLG = 16, 18
HDR_TRANSFERS = {TRC_PQ: "pq", TRC_HLG: "hlg"}

_SDR_WHITE_NITS = 203.0  # BT.2408: HDR reference white, shown as SDR's 100 %
_HLG_PEAK_NITS = 1000.0  # BT.2100's nominal HLG display, whose system gamma is 1.2
_HLG_SYSTEM_GAMMA = 1.2
_KNEE = 0.75  # share of SDR white below which light is kept as it is
_BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593], np.float32)
# Linear BT.2020 RGB to linear BT.709 RGB (BT.2087).
_BT2020_TO_BT709 = np.array(
    [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]],
    np.float32,
)
_CODES = 65536  # 16-bit code values (rgb48)


def hdr_transfer(frame: av.VideoFrame) -> str | None:
    """``"hlg"`` or ``"pq"`` when the frame is HDR by its transfer characteristic, else None."""
    return HDR_TRANSFERS.get(int(frame.color_trc))


@functools.cache
def _linear_lut(transfer: str) -> np.ndarray:
    """``(65536,)`` float32: a 16-bit code value to linear light, scene light in [0, 1] for HLG
    (BT.2100's inverse OETF), display light over 10,000 nits for PQ (its EOTF)."""
    signal = np.arange(_CODES, dtype=np.float64) / (_CODES - 1)
    if transfer == "hlg":
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        log_part = (np.exp((np.maximum(signal, 0.5) - c) / a) + b) / 12
        linear = np.where(signal <= 0.5, signal**2 / 3, log_part)
    else:
        m1, m2 = 2610 / 16384, 2523 / 4096 * 128
        c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
        power = signal ** (1 / m2)
        linear = (np.maximum(power - c1, 0) / (c2 - c3 * power)) ** (1 / m1)
    return linear.astype(np.float32)


@functools.cache
def _sdr_lut(top: float) -> np.ndarray:
    """``(65536,)`` uint8: SDR-relative linear light (1 = SDR white), indexed by
    ``sqrt(light / top)`` in 16-bit steps (fine steps in the shadows), rolled off above the knee
    towards 1 and encoded with BT.1886's gamma 2.4."""
    light = (np.arange(_CODES, dtype=np.float64) / (_CODES - 1)) ** 2 * top
    rolled = _KNEE + (1 - _KNEE) * (1 - np.exp(-(light - _KNEE) / (1 - _KNEE)))
    light = np.where(light <= _KNEE, light, rolled)
    return np.round(255 * np.clip(light, 0, 1) ** (1 / 2.4)).astype(np.uint8)


def hdr_to_sdr(frame: av.VideoFrame, transfer: str) -> np.ndarray:
    """An HDR frame as SDR ``(H, W, 3)`` uint8 RGB (BT.709 primaries, BT.1886 gamma).

    Args:
        frame: a decoded HLG or PQ frame in BT.2020; its YUV is read with its own matrix and range.
        transfer: ``hdr_transfer(frame)``.
    """
    import cv2  # kept out of the import of `video.decode`, which most videos need without it

    codes = frame.to_ndarray(format="rgb48le")
    linear = np.take(_linear_lut(transfer), codes)  # (H, W, 3) float32
    if transfer == "hlg":
        # BT.2100's OOTF: the light a 1,000-nit display gives this scene light.
        luminance = cv2.transform(linear, _BT2020_LUMA[None, :])
        gain = cv2.pow(np.maximum(luminance, np.float32(1e-6)), _HLG_SYSTEM_GAMMA - 1)
        gain *= np.float32(_HLG_PEAK_NITS)
        np.multiply(linear, gain[..., None], out=linear)  # now nits
        top = _HLG_PEAK_NITS / _SDR_WHITE_NITS
    else:
        linear *= np.float32(10_000)  # nits
        top = 10_000 / _SDR_WHITE_NITS
    # Into BT.709, as a share of SDR white, over `top` (the brightest light there can be): one
    # matrix. Then the SDR table's index, sqrt(light / top) in 16 bits.
    index = cv2.transform(linear, _BT2020_TO_BT709 / np.float32(_SDR_WHITE_NITS * top))
    np.clip(index, 0, 1, out=index)
    cv2.sqrt(index, index)
    index *= np.float32(_CODES - 1)
    return np.take(_sdr_lut(top), index.astype(np.uint16))
