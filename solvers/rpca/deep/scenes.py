"""Synthetic infrared small-target scenes with ground-truth masks (numpy, seeded).

Public infrared small-target datasets (SIRST, NUDT-SIRST, IRSTD-1K) cannot be downloaded
here, so the RPCANet++ network is trained and evaluated on generated scenes that mimic
them: a cluttered, approximately low-rank background (cloud fields, sea with waves and
sun glint, ground textures with field boundaries and roads, a horizon), sensor noise
(temporal noise, fixed-pattern column noise, a few hot pixels), and 1–6 small dim
targets of 1–9 pixels with varied shape and intensity, blurred by the optics.

Target amplitude is set by the signal-to-clutter ratio of its neighbourhood,
``SCR = (mean_target - mean_local) / std_local`` with the local statistics taken on the
target-free image in a 21×21 window around the target (the target's 5×5 box excluded);
SCR is drawn log-uniformly in ``scr_range`` (default 2–10, measured values are returned).

References
----------
.. [1] Gao, Meng, Yang, Wang, Zhou, Hauptmann (2013) Infrared patch-image model for small
   target detection in a single image, IEEE TIP 22(12).
.. [2] Dai, Wu, Zhou, Barnard (2021) Asymmetric contextual modulation for infrared small
   target detection (the SIRST dataset), WACV 2021.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HELDOUT_SEED = 20260511
HELDOUT_SIZE = 100
HELDOUT_SHAPE = (256, 256)
DEFAULT_SCR = (2.0, 10.0)


@dataclass
class SceneSet:
    """A batch of synthetic scenes.

    Attributes
    ----------
    images : (N, H, W) float32 ndarray
        Scenes, values roughly in [0, 1].
    masks : (N, H, W) bool ndarray
        Ground-truth target pixels.
    backgrounds : (N, H, W) float32 ndarray
        The same scenes without targets (before noise is added the backgrounds are smooth;
        these include the noise).
    targets : list of list of dict
        Per image, per target: ``center`` (row, col), ``pixels``, ``scr`` (measured),
        ``amplitude``.
    """

    images: np.ndarray
    masks: np.ndarray
    backgrounds: np.ndarray
    targets: list[list[dict]] = field(default_factory=list)

    @property
    def scr(self) -> np.ndarray:
        """Measured SCR of every target (flattened)."""
        return np.array([t["scr"] for ts in self.targets for t in ts], dtype=np.float64)


# -- textures ---------------------------------------------------------------------------------
def _powerlaw(
    rng: np.random.Generator, shape: tuple[int, int], beta: float, aniso: float = 1.0
) -> np.ndarray:
    """Gaussian random field with power spectrum ~ 1/f^beta, zero mean, unit std."""
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :] * aniso  # aniso > 1: structures elongated along x
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2.0)
    amp[0, 0] = 0.0
    spec = amp * (rng.standard_normal(amp.shape) + 1j * rng.standard_normal(amp.shape))
    field_ = np.fft.irfft2(spec, s=shape)
    s = field_.std()
    return field_ / s if s > 0 else field_


def _rescale(a: np.ndarray) -> np.ndarray:
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo + 1e-12)


def _clouds(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    base = _powerlaw(rng, shape, rng.uniform(2.8, 3.6))
    # thresholded soft cloud cover over a sky gradient
    cover = 1.0 / (1.0 + np.exp(-(base - rng.uniform(-0.5, 0.8)) * rng.uniform(1.5, 4.0)))
    detail = _powerlaw(rng, shape, rng.uniform(2.0, 2.6))
    yy = np.linspace(0.0, 1.0, shape[0])[:, None]
    sky = rng.uniform(0.15, 0.35) + rng.uniform(-0.15, 0.15) * yy
    return sky + rng.uniform(0.2, 0.5) * cover * (1.0 + 0.15 * detail)


def _sea(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    waves = _powerlaw(rng, shape, rng.uniform(2.4, 3.2), aniso=rng.uniform(3.0, 6.0))
    yy = np.linspace(0.0, 1.0, h)[:, None]
    base = rng.uniform(0.2, 0.4) + rng.uniform(0.0, 0.2) * yy
    sea = base + rng.uniform(0.03, 0.08) * waves
    if rng.random() < 0.5:  # sun glint: bright elongated specks on wave crests
        crest = _powerlaw(rng, shape, 1.6, aniso=4.0)
        glint = np.clip(crest - rng.uniform(2.2, 3.0), 0.0, None)
        sea = sea + rng.uniform(0.05, 0.15) * glint
    return sea


def _ground(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    tex = _powerlaw(rng, shape, rng.uniform(1.8, 2.6))
    g = rng.uniform(0.3, 0.5) + rng.uniform(0.04, 0.1) * tex
    # piecewise fields: a few regions of different mean (Voronoi cells)
    k = int(rng.integers(2, 7))
    cy, cx = rng.uniform(0, h, k), rng.uniform(0, w, k)
    yy, xx = np.mgrid[0:h, 0:w]
    d = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2
    cells = np.argmin(d, axis=0)
    g = g + rng.uniform(-0.1, 0.1, k)[cells]
    # roads: a couple of straight bright or dark lines, 1-3 px wide
    for _ in range(int(rng.integers(0, 3))):
        ang = rng.uniform(0, np.pi)
        off = rng.uniform(-0.4, 0.4) * max(h, w)
        dist = np.abs((yy - h / 2) * np.cos(ang) - (xx - w / 2) * np.sin(ang) - off)
        width = rng.uniform(0.8, 2.0)
        g = g + rng.choice([-1.0, 1.0]) * rng.uniform(0.03, 0.1) * np.exp(-((dist / width) ** 2))
    return g


def _gaussian_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(a, sigma, mode="reflect")


def background(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """One target-free background (before sensor noise), values ~[0, 1]."""
    kind = rng.choice(
        ["clouds", "sea", "ground", "sky_sea", "sky_ground"], p=[0.3, 0.15, 0.2, 0.15, 0.2]
    )
    h, w = shape
    if kind == "clouds":
        bg = _clouds(rng, shape)
    elif kind == "sea":
        bg = _sea(rng, shape)
    elif kind == "ground":
        bg = _ground(rng, shape)
    else:
        top = _clouds(rng, shape)
        bottom = _sea(rng, shape) if kind == "sky_sea" else _ground(rng, shape)
        # a slightly tilted, slightly wavy horizon
        yy, xx = np.mgrid[0:h, 0:w]
        hz = rng.uniform(0.3, 0.7) * h + rng.uniform(-0.1, 0.1) * (xx - w / 2)
        hz = hz + 2.0 * _powerlaw(rng, (1, w), 2.0)[0][None, :]
        sharp = rng.uniform(0.5, 2.0)
        wgt = 1.0 / (1.0 + np.exp(-(yy - hz) / sharp))
        bg = top * (1.0 - wgt) + bottom * wgt
    # contrast of the scene varies
    bg = np.clip(bg, 0.0, None)
    return bg * rng.uniform(0.7, 1.3)


def _target_shape(rng: np.random.Generator, npix: int) -> np.ndarray:
    """Random 4-connected set of ``npix`` pixels as (k, 2) offsets from (0, 0)."""
    pts = {(0, 0)}
    compact = rng.random() < 0.7  # most targets compact, some elongated
    direction = (0, 1) if rng.random() < 0.5 else (1, 0)
    while len(pts) < npix:
        cand = set()
        for y, x in pts:
            for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                q = (y + dy, x + dx)
                if q not in pts:
                    cand.add(q)
        cand_l = sorted(cand)
        if compact:
            wts = np.array([1.0 / (1.0 + q[0] ** 2 + q[1] ** 2) for q in cand_l])
        else:
            wts = np.array(
                [
                    4.0 if (q[0] * direction[1] == 0 and q[1] * direction[0] == 0) else 0.3
                    for q in cand_l
                ]
            )
        wts = wts / wts.sum()
        pts.add(cand_l[int(rng.choice(len(cand_l), p=wts))])
    arr = np.array(sorted(pts), dtype=np.int64)
    return arr - np.round(arr.mean(axis=0)).astype(np.int64)


def _local_stats(img: np.ndarray, cy: int, cx: int, r: int = 10, inner: int = 2):
    h, w = img.shape
    y0, y1 = max(cy - r, 0), min(cy + r + 1, h)
    x0, x1 = max(cx - r, 0), min(cx + r + 1, w)
    win = img[y0:y1, x0:x1]
    keep = np.ones(win.shape, dtype=bool)
    keep[
        max(cy - inner - y0, 0) : max(cy + inner + 1 - y0, 0),
        max(cx - inner - x0, 0) : max(cx + inner + 1 - x0, 0),
    ] = False
    vals = win[keep]
    return float(vals.mean()), float(vals.std() + 1e-6)


def make_scenes(
    n: int,
    shape: tuple[int, int] = HELDOUT_SHAPE,
    *,
    seed: int = 0,
    n_targets: tuple[int, int] = (1, 6),
    pixels: tuple[int, int] = (1, 9),
    scr_range: tuple[float, float] = DEFAULT_SCR,
    noise: tuple[float, float] = (0.005, 0.03),
) -> SceneSet:
    """Generate ``n`` seeded synthetic infrared small-target scenes.

    Parameters
    ----------
    n : int
        Number of scenes.
    shape : (H, W)
        Scene size (at least 16×16).
    seed : int
        Seed: the same arguments give the same scenes.
    n_targets : (lo, hi)
        Targets per scene, uniform in ``[lo, hi]`` (scaled down for scenes smaller than
        256×256, at least ``lo``... so small crops still contain targets).
    pixels : (lo, hi)
        Target size in pixels of the ground-truth mask, uniform in ``[lo, hi]``.
    scr_range : (lo, hi)
        Signal-to-clutter ratio, log-uniform.
    noise : (lo, hi)
        Std of the white sensor noise, log-uniform (image values are ~[0, 1]).

    Returns
    -------
    SceneSet
    """
    rng = np.random.default_rng(seed)
    h, w = int(shape[0]), int(shape[1])
    images = np.empty((n, h, w), dtype=np.float32)
    masks = np.zeros((n, h, w), dtype=bool)
    bgs = np.empty((n, h, w), dtype=np.float32)
    all_targets: list[list[dict]] = []
    area_scale = h * w / (256.0 * 256.0)
    for i in range(n):
        bg = background(rng, (h, w))
        sig = float(np.exp(rng.uniform(np.log(noise[0]), np.log(noise[1]))))
        noise_img = sig * rng.standard_normal((h, w))
        if rng.random() < 0.5:  # fixed-pattern column noise
            noise_img += rng.uniform(0.2, 0.6) * sig * rng.standard_normal(w)[None, :]
        for _ in range(int(rng.poisson(1.0 * area_scale))):  # hot/dead pixels (clutter)
            noise_img[rng.integers(h), rng.integers(w)] += rng.uniform(-0.1, 0.15)
        optics = rng.uniform(0.4, 0.8)  # PSF std (pixels)
        scene_bg = _gaussian_blur(bg, optics) + noise_img
        tgt_img = np.zeros((h, w))
        mask = np.zeros((h, w), dtype=bool)
        hi_t = max(n_targets[0], int(round(n_targets[1] * min(1.0, area_scale**0.5))))
        k = int(rng.integers(n_targets[0], hi_t + 1))
        targets: list[dict] = []
        tries = 0
        while len(targets) < k and tries < 50 * k:
            tries += 1
            npix = int(rng.integers(pixels[0], pixels[1] + 1))
            offs = _target_shape(rng, npix)
            cy, cx = int(rng.integers(6, h - 6)), int(rng.integers(6, w - 6))
            ys, xs = offs[:, 0] + cy, offs[:, 1] + cx
            if ys.min() < 3 or xs.min() < 3 or ys.max() >= h - 3 or xs.max() >= w - 3:
                continue
            # keep targets apart (distinct components, >= 8 px between centres)
            if any(abs(t["center"][0] - cy) < 8 and abs(t["center"][1] - cx) < 8 for t in targets):
                continue
            mu, sd = _local_stats(scene_bg, cy, cx)
            scr = float(np.exp(rng.uniform(np.log(scr_range[0]), np.log(scr_range[1]))))
            # smooth profile: 1 at the centre, ~0.6 at the rim, then the optics blur
            d2 = (offs[:, 0] - offs[:, 0].mean()) ** 2 + (offs[:, 1] - offs[:, 1].mean()) ** 2
            rad = max(float(np.sqrt(d2.max())), 1.0)
            prof = np.exp(-0.5 * d2 / rad**2)
            one = np.zeros((h, w))
            one[ys, xs] = prof
            one = _gaussian_blur(one, optics)
            mean_in = float(one[ys, xs].mean())
            amp = scr * sd / max(mean_in, 1e-6)
            tgt_img += amp * one
            mask[ys, xs] = True
            targets.append(
                {
                    "center": (cy, cx),
                    "pixels": npix,
                    "scr": scr,
                    "amplitude": amp,
                    "local_mean": mu,
                    "local_std": sd,
                }
            )
        img = scene_bg + tgt_img
        images[i] = img
        masks[i] = mask
        bgs[i] = scene_bg
        all_targets.append(targets)
    return SceneSet(images=images, masks=masks, backgrounds=bgs, targets=all_targets)


def heldout_set(n: int = HELDOUT_SIZE, shape: tuple[int, int] = HELDOUT_SHAPE) -> SceneSet:
    """The fixed, seeded held-out acceptance set (100 scenes of 256×256 by default).

    ``heldout_set(n)`` for a smaller ``n`` gives the first ``n`` scenes of the full set
    (one seeded stream); report numbers on the full set.
    """
    return make_scenes(n, shape, seed=HELDOUT_SEED)
