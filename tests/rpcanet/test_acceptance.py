"""Shipped weights on the fixed held-out synthetic set (seeded; see docs/rpcanet.md)."""

import numpy as np
import pytest

pytest.importorskip("torch")

from solvers.rpca import segment  # noqa: E402
from solvers.rpca.deep import heldout_set, score_masks  # noqa: E402
from solvers.rpca.deep.models import list_models  # noqa: E402


@pytest.fixture(scope="module")
def subset():
    return heldout_set(12)


def test_shipped_weights_small_and_listed():
    from importlib.resources import files

    assert "default" in list_models()
    data = (files("solvers.rpca.deep") / "weights" / "default.pt").read_bytes()
    assert len(data) < 2_000_000


def test_shipped_weights_on_a_held_out_subset(subset):
    """Fast check: the first 12 held-out scenes, looser bounds than the full set."""
    res = segment(subset.images, backend="cpu")
    sc = score_masks(res.masks, subset.masks)
    assert sc.iou >= 0.5 and sc.pd >= 0.75 and sc.fa < 1e-4, sc


@pytest.fixture(scope="module")
def full():
    hs = heldout_set()
    res = segment(hs.images, backend="cpu")
    return hs, res


@pytest.mark.slow
def test_shipped_weights_iou_on_the_held_out_set(full):
    hs, res = full
    sc = score_masks(res.masks, hs.masks)
    assert sc.iou >= 0.6, sc
    assert sc.fa < 2e-4, sc  # measured 1.03e-4 (K = 3 weights: 3.6e-5)


@pytest.mark.slow
def test_shipped_weights_pd_target(full):
    # the bound; measured 0.9016 (330 of 366 targets), i.e. at the edge: the
    # operating point was chosen on separate validation scenes (docs/rpcanet.md)
    hs, res = full
    assert score_masks(res.masks, hs.masks).pd >= 0.9


@pytest.mark.slow
def test_k3_weights_stay_available():
    # the previous default (K = 3): lower false-alarm rate and higher IoU, Pd 0.852
    hs = heldout_set(12)
    sc = score_masks(segment(hs.images, model="k3", backend="cpu").masks, hs.masks)
    assert sc.iou >= 0.5 and sc.pd >= 0.75, sc


@pytest.mark.slow
def test_beats_ipi_on_iou(full):
    """IPI (patch image + our IALM) on the first 10 held-out scenes (IPI is slow)."""
    from solvers.rpca.deep.ipi import ipi_segment

    hs, res = full
    n = 10
    ipi = ipi_segment(hs.images[:n], k=10.0)
    ours = score_masks(res.masks[:n], hs.masks[:n])
    base = score_masks(ipi.masks, hs.masks[:n])
    assert ours.iou > base.iou, (ours, base)
    assert np.isfinite(ipi.seconds_per_image)
