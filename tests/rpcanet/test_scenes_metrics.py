"""Scene generator properties and the metrics against hand-computed cases."""

import numpy as np
import pytest
from scipy import ndimage

from solvers.rpca.deep.metrics import detection_counts, score_masks
from solvers.rpca.deep.scenes import DEFAULT_SCR, make_scenes


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(12, (128, 128), seed=3)


def test_generator_is_seeded_and_shaped(scenes):
    again = make_scenes(12, (128, 128), seed=3)
    assert np.array_equal(scenes.images, again.images)
    assert np.array_equal(scenes.masks, again.masks)
    other = make_scenes(12, (128, 128), seed=4)
    assert not np.array_equal(scenes.images, other.images)
    assert scenes.images.shape == (12, 128, 128) and scenes.images.dtype == np.float32
    assert scenes.masks.dtype == bool and np.isfinite(scenes.images).all()
    # the first scenes of a longer request are the same scenes
    assert np.array_equal(make_scenes(3, (128, 128), seed=3).images, scenes.images[:3])


def test_targets_are_small_separate_components_with_their_scr(scenes):
    for i in range(len(scenes.images)):
        lab, n = ndimage.label(scenes.masks[i], structure=np.ones((3, 3)))
        assert n == len(scenes.targets[i]) >= 1
        sizes = np.bincount(lab.ravel())[1:]
        assert sizes.min() >= 1 and sizes.max() <= 9
        assert sorted(sizes) == sorted(t["pixels"] for t in scenes.targets[i])
    scr = scenes.scr
    assert scr.min() >= DEFAULT_SCR[0] and scr.max() <= DEFAULT_SCR[1]
    # targets are dim: the target adds ~SCR local stds, and the image minus the
    # background is zero away from the targets (up to the optics blur)
    diff = scenes.images - scenes.backgrounds
    far = ~ndimage.binary_dilation(scenes.masks, iterations=4, axes=(1, 2))
    assert np.abs(diff[far]).max() < 1e-3
    t = scenes.targets[0][0]
    cy, cx = t["center"]
    assert diff[0, cy, cx] > 0.5 * t["scr"] * t["local_std"]


def test_metrics_hand_computed():
    gt = np.zeros((10, 10), bool)
    gt[1:3, 1:3] = True  # target A, 4 px, centroid (1.5, 1.5)
    gt[7, 7] = True  # target B, 1 px
    pred = np.zeros_like(gt)
    pred[1:3, 1:2] = True  # 2 px inside A: centroid (1.5, 1) -> detects A
    pred[5, 0] = True  # false alarm, 1 px, far from everything
    sc = score_masks(pred, gt)
    assert sc.iou == pytest.approx(2 / 6)  # TP 2, FP 1, FN 3
    assert sc.niou == pytest.approx(2 / 6)
    assert (sc.targets, sc.detected) == (2, 1) and sc.pd == 0.5
    assert sc.false_pixels == 1 and sc.fa == pytest.approx(1 / 100)
    assert sc.f1 == pytest.approx(4 / (4 + 1 + 3))
    # 8-connectivity: a diagonal pair is one component; centroid farther than 3 px misses
    g2 = np.zeros((12, 12), bool)
    g2[5, 5] = g2[6, 6] = True
    p2 = np.zeros_like(g2)
    p2[5, 9] = True
    assert detection_counts(p2, g2) == (1, 0, 1)
    # nIoU averages per image; an empty image with an empty prediction counts 1
    sc2 = score_masks(np.stack([pred, np.zeros_like(gt)]), np.stack([gt, np.zeros_like(gt)]))
    assert sc2.niou == pytest.approx((2 / 6 + 1) / 2) and sc2.iou == pytest.approx(2 / 6)


def test_ipi_baseline_finds_a_bright_target():
    from solvers.rpca.deep.ipi import ipi_segment, patch_image, unpatch_median

    rng = np.random.default_rng(0)
    img = rng.standard_normal((60, 60)) * 0.01 + np.linspace(0, 1, 60)[None, :]
    d = patch_image(img, 20, 10)
    assert d.shape == (400, 25)
    assert np.allclose(unpatch_median(d, img.shape, 20, 10), img)
    img[30, 31] += 0.5
    res = ipi_segment(img, patch=20, step=10, k=6)
    assert res.masks[30, 31] and res.masks.sum() <= 4
