"""Training RPCANet++ on synthetic scenes or on user images with masks (torch, seeded).

Recipe (after the authors' ``train.py``, adapted to CPU): random crops of normalised
scenes (most centred near a target), flips and 90° rotations; loss
``SoftIoU(sigmoid(O_K), mask) + bce_weight * BCE + mse_weight * MSE(D_K, image)``
(authors: SoftIoU + 0.01 MSE; the BCE term helps the tiny targets early on), plus
optionally ``det_weight`` × :func:`target_detection_loss` (ours, for Pd) and
``fa_weight`` × :func:`false_alarm_loss` (ours, for Fa); ``ema_decay`` > 0 validates
and keeps an exponential moving average of the weights; ``calibrate`` picks, at every
validation, the decision threshold among :data:`CALIBRATION_THRESHOLDS` by the same rule
as the checkpoints and stores it with the model as a shift of the output logits
(``meta["logit_shift"]``, applied by ``predict``, so ``segment(threshold=0.5)`` uses the
calibrated operating point); Adam with a
cosine learning-rate decay; the scene pool is refreshed with new generated scenes as
training goes (no scene is seen often); the best checkpoint on a validation set
(largest IoU + Pd, then Pd; or, with ``select_min_iou``, the largest Pd among the
checkpoints whose validation IoU reaches that floor) is kept. ``scr_range`` (default:
the generator's 2–10) draws
the generated training scenes' targets from another signal-to-clutter range, e.g. to
oversample the dim targets; validation always uses the generator's default range.

References
----------
.. [1] Wu et al. (2025) RPCANet++: Deep interpretable robust PCA for sparse object
   segmentation, arXiv:2508.04190.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .scenes import make_scenes


@dataclass
class TrainConfig:
    """Training hyper-parameters (see the module doc)."""

    steps: int = 2000
    batch_size: int = 16
    crop: int = 48
    lr: float = 2e-3
    lr_final: float = 1e-4
    seed: int = 0
    pool: int = 256
    refresh: int = 1
    scene_size: int = 256
    target_crop_frac: float = 0.8
    bce_weight: float = 0.5
    mse_weight: float = 0.01
    val_every: int = 200
    val_scenes: int = 16
    val_size: int = 256
    seconds: float | None = None
    weight_decay: float = 0.0
    scr_range: tuple[float, float] | None = None
    select_min_iou: float | None = None
    det_weight: float = 0.0
    fa_weight: float = 0.0
    ema_decay: float = 0.0
    calibrate: bool = False


def _normalize_np(img: np.ndarray) -> np.ndarray:
    img = img.astype(np.float32)
    mu = img.mean(axis=(-2, -1), keepdims=True)
    sd = img.std(axis=(-2, -1), keepdims=True)
    return (img - mu) / (sd + 1e-6)


class ScenePool:
    """A pool of normalised scenes and masks to draw crops from (optionally refreshed)."""

    def __init__(
        self,
        images: np.ndarray | None,
        masks: np.ndarray | None,
        cfg: TrainConfig,
        rng: np.random.Generator,
    ) -> None:
        self.cfg = cfg
        self.rng = rng
        self.generated = images is None
        self._gen_seed = cfg.seed * 1_000_003 + 17
        if images is None:
            s = self._gen(cfg.pool)
            self.images, self.masks = s
        else:
            self.images = _normalize_np(np.asarray(images, dtype=np.float32))
            self.masks = np.asarray(masks, dtype=bool)
        self._index_targets()

    def _gen(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        self._gen_seed += 1
        sz = self.cfg.scene_size
        kw = {} if self.cfg.scr_range is None else {"scr_range": tuple(self.cfg.scr_range)}
        s = make_scenes(n, (sz, sz), seed=self._gen_seed, **kw)
        return _normalize_np(s.images), s.masks

    def _index_targets(self) -> None:
        self.tpix = [np.argwhere(m) for m in self.masks]

    def refresh(self, k: int) -> None:
        if not self.generated or k <= 0:
            return
        imgs, msks = self._gen(k)
        idx = self.rng.choice(len(self.images), size=k, replace=False)
        self.images[idx] = imgs
        self.masks[idx] = msks
        for j, i in enumerate(idx):
            self.tpix[i] = np.argwhere(msks[j])

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        c = self.cfg.crop
        rng = self.rng
        xs = np.empty((n, c, c), dtype=np.float32)
        ys = np.empty((n, c, c), dtype=np.float32)
        for b in range(n):
            i = int(rng.integers(len(self.images)))
            img, msk = self.images[i], self.masks[i]
            h, w = img.shape
            ch, cw = min(c, h), min(c, w)
            if len(self.tpix[i]) and rng.random() < self.cfg.target_crop_frac:
                ty, tx = self.tpix[i][rng.integers(len(self.tpix[i]))]
                y0 = int(np.clip(ty - rng.integers(4, ch - 4), 0, h - ch))
                x0 = int(np.clip(tx - rng.integers(4, cw - 4), 0, w - cw))
            else:
                y0, x0 = int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))
            a = img[y0 : y0 + ch, x0 : x0 + cw]
            m = msk[y0 : y0 + ch, x0 : x0 + cw]
            k = int(rng.integers(4))
            a, m = np.rot90(a, k), np.rot90(m, k)
            if rng.random() < 0.5:
                a, m = a[:, ::-1], m[:, ::-1]
            if ch < c or cw < c:  # small user images: reflect-pad to the crop size
                pad = ((0, c - ch), (0, c - cw))
                a, m = np.pad(a, pad, mode="reflect"), np.pad(m, pad)
            xs[b], ys[b] = a, m
        return xs, ys


def _selection_key(sc: dict[str, float], min_iou: float | None) -> tuple[float, ...]:
    """Checkpoint ranking: IoU + Pd (then Pd), or, with ``min_iou``, the largest Pd among
    checkpoints whose validation IoU reaches ``min_iou`` (then IoU; while none reaches
    it, the largest IoU)."""
    if min_iou is None:
        return (sc["iou"] + sc["pd"], sc["pd"])
    if sc["iou"] >= min_iou:
        return (1.0, sc["pd"], sc["iou"])
    return (0.0, sc["iou"], sc["pd"])


def soft_iou_loss(p: Any, t: Any, smooth: float = 1.0) -> Any:
    """``1 - mean_b (sum p t + s) / (sum p + sum t - sum p t + s)`` (authors' SoftIoU)."""
    inter = (p * t).sum(dim=(1, 2, 3))
    union = p.sum(dim=(1, 2, 3)) + t.sum(dim=(1, 2, 3)) - inter
    return 1.0 - ((inter + smooth) / (union + smooth)).mean()


#: 8-connectivity within each image of a (B, H, W) stack, none across images
_EIGHT_3D = np.zeros((3, 3, 3), dtype=bool)
_EIGHT_3D[1] = True


def target_detection_loss(logits: Any, masks: np.ndarray) -> Any:
    """Mean over the ground-truth targets (8-connected components of ``masks``) of
    ``softplus(−max logit over the target's pixels)``: small once *some* pixel of every
    target fires, whatever the shape of the predicted blob — a term for the
    probability of detection (Pd) that, unlike the pixel losses, does not ask for more
    target pixels. 0 when the batch has no target."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    from scipy import ndimage

    lab, n = ndimage.label(masks.astype(bool), structure=_EIGHT_3D)
    if n == 0:
        return logits.sum() * 0.0
    idx = torch.from_numpy(lab.reshape(-1).astype(np.int64)).to(logits.device)
    flat = logits.reshape(-1)
    init = torch.full((n + 1,), -1e4, dtype=flat.dtype, device=flat.device)
    mx = init.scatter_reduce(0, idx, flat, reduce="amax", include_self=True)
    return F.softplus(-mx[1:]).mean()


def false_alarm_loss(logits: Any, masks: np.ndarray, guard: int = 2) -> Any:
    """Mean over the crops of ``softplus(max logit over the background)``, background
    = pixels more than ``guard`` px (Chebyshev) from every target pixel: the strongest
    clutter response of each crop, i.e. the candidate false alarm (Fa), is pushed down
    however few pixels it has — the counterpart of :func:`target_detection_loss`."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    from scipy import ndimage

    near = ndimage.maximum_filter(masks.astype(bool), size=(1, 2 * guard + 1, 2 * guard + 1))
    bg = torch.from_numpy(~near).to(logits.device)
    lg = logits[:, 0].masked_fill(~bg, -1e4)
    return F.softplus(lg.amax(dim=(1, 2))).mean()


#: decision thresholds tried by the operating-point calibration (``calibrate=True``)
CALIBRATION_THRESHOLDS = (
    0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999,
)  # fmt: skip


def _logit(t: float) -> float:
    return math.log(t / (1.0 - t))


def evaluate_operating_points(
    model: Any,
    images: np.ndarray,
    masks: np.ndarray,
    thresholds: tuple[float, ...],
    min_iou: float | None,
    device: str = "cpu",
) -> dict[str, float]:
    """Scores at the best of ``thresholds`` (by the checkpoint selection rule), with the
    chosen ``threshold`` added: the probabilities are computed once."""
    from .metrics import score_masks

    prob = model.predict(images, device=device)
    best: dict[str, float] | None = None
    for t in thresholds:
        sc = score_masks(prob > t, masks).to_dict()
        sc["threshold"] = t
        if best is None or _selection_key(sc, min_iou) > _selection_key(best, min_iou):
            best = sc
    assert best is not None
    return best


def evaluate(
    model: Any, images: np.ndarray, masks: np.ndarray, threshold: float = 0.5, device: str = "cpu"
) -> dict[str, float]:
    """Scores (IoU, nIoU, Pd, Fa, F1) of ``model`` on images with ground-truth masks."""
    from .metrics import score_masks

    prob = model.predict(images, device=device)
    return score_masks(prob > threshold, masks).to_dict()


def train(
    net_cfg: Any = None,
    cfg: TrainConfig | None = None,
    *,
    images: np.ndarray | None = None,
    masks: np.ndarray | None = None,
    init: Any = None,
    callback: Callable[[int, float, dict], bool] | None = None,
    device: str = "cpu",
    threads: int | None = None,
    on_best: Callable[[Any, int, dict], None] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train an RPCANet++ model; returns ``(model, history)``.

    Parameters
    ----------
    net_cfg : NetConfig, optional
        Architecture (default :class:`~solvers.rpca.deep.network.NetConfig()`); ignored
        when ``init`` is given.
    cfg : TrainConfig, optional
    images, masks : (N, H, W) arrays, optional
        Train on these (images float, masks bool) instead of generated scenes.
    init : RPCANetModel, optional
        Continue training this model (it is copied).
    callback : callable(step, loss, info) -> bool, optional
        Called every step; returning True stops training (the best/last model is kept).
    device : {"cpu", "cuda"}
    threads : int, optional
        torch CPU threads for this call (restored afterwards).
    on_best : callable(model, step, scores), optional
        Called when the validation score improves (e.g. to write a checkpoint).

    Returns
    -------
    model : RPCANetModel
    history : dict
        ``loss`` (per step), ``val`` ([step, scores] pairs), ``best_step``, ``steps``,
        ``stopped``, ``seconds``, ``parameters``, ``config``.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812

    from .network import NetConfig, RPCANetModel

    cfg = cfg or TrainConfig()
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        if init is not None:
            model = copy.deepcopy(init)
        else:
            model = RPCANetModel.new(net_cfg or NetConfig(), seed=cfg.seed)
        net = model.net.to(device).train()
        pool = ScenePool(images, masks, cfg, rng)
        val = None
        if images is None and cfg.val_scenes > 0 and cfg.val_every > 0:
            vs = make_scenes(
                cfg.val_scenes, (cfg.val_size, cfg.val_size), seed=cfg.seed + 7_777_777
            )
            val = (vs.images, vs.masks)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        # exponential moving average of the weights (validated, kept and returned instead
        # of the raw weights when ema_decay > 0; BatchNorm statistics copied)
        ema = None
        if cfg.ema_decay > 0:
            ema = copy.deepcopy(net).eval()
            for q in ema.parameters():
                q.requires_grad_(False)

        def lr_at(step: int) -> float:
            frac = min(step / max(cfg.steps - 1, 1), 1.0)
            return cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + math.cos(math.pi * frac))

        hist: dict[str, Any] = {"loss": [], "val": [], "best_step": None, "stopped": False}
        best_key: tuple[float, float] | None = None
        best_state = None
        t0 = time.perf_counter()
        step = 0
        for step in range(1, cfg.steps + 1):
            for g in opt.param_groups:
                g["lr"] = lr_at(step - 1)
            xb, yb = pool.batch(cfg.batch_size)
            x = torch.from_numpy(xb)[:, None].to(device)
            y = torch.from_numpy(yb)[:, None].to(device)
            logits, d = net(x)
            p = torch.sigmoid(logits)
            loss = soft_iou_loss(p, y)
            if cfg.bce_weight:
                loss = loss + cfg.bce_weight * F.binary_cross_entropy_with_logits(logits, y)
            if cfg.mse_weight:
                loss = loss + cfg.mse_weight * F.mse_loss(d, x)
            if cfg.det_weight:
                loss = loss + cfg.det_weight * target_detection_loss(logits, yb)
            if cfg.fa_weight:
                loss = loss + cfg.fa_weight * false_alarm_loss(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                with torch.no_grad():
                    for q, q_live in zip(ema.parameters(), net.parameters()):
                        q.mul_(cfg.ema_decay).add_(q_live.detach(), alpha=1.0 - cfg.ema_decay)
                    for b, b_live in zip(ema.buffers(), net.buffers()):
                        b.copy_(b_live)
            lv = float(loss.detach())
            hist["loss"].append(lv)
            pool.refresh(cfg.refresh)
            info: dict[str, Any] = {"lr": lr_at(step - 1)}
            last = step == cfg.steps
            out_of_time = cfg.seconds is not None and time.perf_counter() - t0 > cfg.seconds
            if val is not None and (step % cfg.val_every == 0 or last or out_of_time):
                judged = net if ema is None else ema
                model.net = judged
                if cfg.calibrate:
                    # operating point: the shift of the output logits that puts the
                    # chosen threshold at 0.5 travels with the model (meta["logit_shift"])
                    model.meta = {**model.meta, "logit_shift": 0.0}
                    sc = evaluate_operating_points(
                        model, val[0], val[1], CALIBRATION_THRESHOLDS, cfg.select_min_iou,
                        device=device,
                    )  # fmt: skip
                    model.meta["logit_shift"] = _logit(sc["threshold"])
                else:
                    sc = evaluate(model, val[0], val[1], device=device)
                hist["val"].append([step, sc])
                info["val"] = sc
                key = _selection_key(sc, cfg.select_min_iou)
                if best_key is None or key > best_key:
                    best_key = key
                    best_state = copy.deepcopy(judged.state_dict())
                    hist["best_step"] = step
                    hist["logit_shift"] = model.meta.get("logit_shift", 0.0)
                    if on_best is not None:
                        on_best(model, step, sc)
                model.net = net
                net.train()
            if callback is not None and callback(step, lv, info):
                hist["stopped"] = True
                break
            if out_of_time:
                break
        if best_state is not None:
            net.load_state_dict(best_state)
            if cfg.calibrate:
                model.meta = {**model.meta, "logit_shift": hist["logit_shift"]}
        elif ema is not None:
            net.load_state_dict(ema.state_dict())
        net.eval()
        model.net = net.cpu()
        hist.update(
            steps=step,
            seconds=time.perf_counter() - t0,
            parameters=model.n_parameters,
            config=asdict(cfg),
        )
        return model, hist
    finally:
        torch.set_num_threads(old_threads)
