"""The opt-in metrics of the field's test conditions as :class:`~codecbench.core.metrics.Metric` entries, and the
``jpeg-ai`` and ``perceptual`` presets."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from codecbench.core.iqa import colour, dssim, external, fsim, iw_ssim, nlpd, psnr_hvs, vif
from codecbench.core.metrics import PRESETS, Metric, Scores, register_metric, ssim_ms_ssim

#: where the reference values of the piq comparisons came from (tests/test_iqa.py)
_PIQ = "piq 0.8.0 (float64)"


def _vif_scores(original: np.ndarray, decoded: np.ndarray) -> Scores:
    return {"vif": vif.vif(original, decoded)}


def _fsim_scores(original: np.ndarray, decoded: np.ndarray) -> Scores:
    gray, colour_value = fsim.fsim(original, decoded)
    return {"fsim": gray, "fsimc": colour_value}


def _iw_ssim_scores(original: np.ndarray, decoded: np.ndarray) -> Scores:
    return {"iw_ssim": iw_ssim.iw_ssim(original, decoded)}


def _psnr_hvs_m_scores(original: np.ndarray, decoded: np.ndarray) -> Scores:
    return {"psnr_hvs_m": psnr_hvs.psnr_hvs_m(original, decoded)}


def _nlpd_scores(original: np.ndarray, decoded: np.ndarray) -> Scores:
    return {"nlpd": nlpd.nlpd(original, decoded)}


def _dssim_scores(original: np.ndarray, decoded: np.ndarray) -> Scores:
    return {"dssim": dssim.dssim(original, decoded)}


def _ciede2000_scores(original: np.ndarray, decoded: np.ndarray) -> Scores:
    return {"ciede2000": colour.ciede2000(original, decoded)}


def _ms_ssim_y_scores(original: np.ndarray, decoded: np.ndarray) -> Scores:
    luma = [colour.luma(image).astype(np.float32)[..., None] for image in (original, decoded)]
    return {"ms_ssim_y": ssim_ms_ssim(*luma)[1]}


def _butteraugli_scores(original: np.ndarray, decoded: np.ndarray) -> Scores:
    worst, norm3 = external.butteraugli(original, decoded)
    return {"butteraugli": worst, "butteraugli_3norm": norm3}


def _vmaf_scores(original: np.ndarray, decoded: np.ndarray) -> Scores:
    return {"vmaf": external.vmaf(original, decoded)}


_UNIT = (0.0, 1.0)
for _metric in (
    Metric("ms_ssim_y", "MS-SSIM-Y", "", _ms_ssim_y_scores, digits=4, default=False, valid_range=(-1.0, 1.0),
           source="codecbench.core.metrics on BT.601 luma",
           validation="validated to 1e-4 against a scipy MS-SSIM of the luma"),
    Metric("vif", "VIF", "", _vif_scores, digits=4, default=False, valid_range=(0.0, math.inf),
           source="codecbench.core.iqa.vif (OpenCV)", validation=f"validated to 1e-9 against {_PIQ} vif_p"),
    Metric("fsim", "FSIM", "", _fsim_scores, digits=4, default=False, valid_range=_UNIT,
           source="codecbench.core.iqa.fsim (numpy FFT)", validation=f"validated to 1e-9 against {_PIQ} fsim"),
    Metric("fsimc", "FSIMc", "", _fsim_scores, digits=4, default=False, valid_range=_UNIT,
           source="codecbench.core.iqa.fsim (numpy FFT)", validation=f"validated to 1e-9 against {_PIQ} fsim"),
    Metric("iw_ssim", "IW-SSIM", "", _iw_ssim_scores, digits=4, default=False, valid_range=(-1.0, 1.0),
           source="codecbench.core.iqa.iw_ssim (OpenCV)",
           validation=f"validated to 1e-7 against {_PIQ} information_weighted_ssim"),
    Metric("psnr_hvs_m", "PSNR-HVS-M", "dB", _psnr_hvs_m_scores, default=False,
           source="codecbench.core.iqa.psnr_hvs (numpy)",
           validation="validated to 1e-9 dB against a block-by-block transcription of the authors' algorithm"),
    Metric("nlpd", "NLPD", "", _nlpd_scores, higher_is_better=False, digits=4, default=False,
           valid_range=(0.0, math.inf), source="codecbench.core.iqa.nlpd (OpenCV) on BT.601 luma",
           validation="validated to 5e-9 against pyiqa 0.1.16 NLPD (float64)"),
    Metric("dssim", "DSSIM", "", _dssim_scores, higher_is_better=False, digits=6, default=False,
           valid_range=(0.0, math.inf), source="codecbench.core.iqa.dssim (port of dssim-core 3.4.0)",
           validation="validated to 5e-7 (2e-4 relative) against dssim-core 3.4.0, the dssim tool's library"),
    Metric("ciede2000", "CIEDE2000", "dB", _ciede2000_scores, default=False, source="scikit-image (deltaE_ciede2000)",
           validation="validated to 1e-4 ΔE against Sharma et al.'s published test pairs"),
    Metric("butteraugli", "Butteraugli", "", _butteraugli_scores, higher_is_better=False, default=False,
           valid_range=(0.0, math.inf), source="libjxl butteraugli_main", unavailable=external.butteraugli_missing,
           validation="libjxl's own implementation (checked: 0 for identical images, rising with distortion)"),
    Metric("butteraugli_3norm", "Butteraugli 3-norm", "", _butteraugli_scores, higher_is_better=False, default=False,
           valid_range=(0.0, math.inf), source="libjxl butteraugli_main", unavailable=external.butteraugli_missing,
           validation="libjxl's own implementation (checked: 0 for identical images, rising with distortion)"),
    Metric("vmaf", "VMAF", "", _vmaf_scores, default=False, valid_range=(0.0, 100.0),
           source="libvmaf vmaf_v0.6.1 (Netflix's vmaf tool, else FFmpeg) on BT.709 YCbCr 4:4:4, 10-bit",
           unavailable=external.vmaf_missing,
           validation="libvmaf's own tool (checked with libvmaf 3.2.0: its values on fixed pairs, the top score for "
                      "identical images, falling with JPEG quality)"),
):
    # each is also a BD-rate axis (the multi-metric BD-rate of codecbench.analysis.bdrate; a lower-is-better one negated)
    register_metric(dataclasses.replace(_metric, bd_axis=_metric.name))

PRESETS.update({
    # JPEG AI's objective set and AOM CTC's additions (CIEDE2000, MS-SSIM on Y)
    "jpeg-ai": ("psnr_y", "ms_ssim", "ms_ssim_y", "vif", "fsim", "fsimc", "iw_ssim", "vmaf", "psnr_hvs_m", "ciede2000",
                "nlpd"),
    # libjxl benchmark_xl's perceptual metrics
    "perceptual": ("ssimulacra2", "butteraugli", "butteraugli_3norm"),
})
