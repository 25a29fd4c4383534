"""Video background subtraction and the synthetic moving-object video."""

import numpy as np
import pytest

import solvers
from solvers import InvalidProblemError
from solvers.rpca import (
    background_subtraction,
    foreground_scores,
    moving_objects_video,
    random_mask,
)


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.fixture(scope="module")
def scene():
    return moving_objects_video(60, 40, 56, noise=0.01, seed=3)


def test_generator_ground_truth():
    sc = moving_objects_video(30, 24, 32, n_objects=2, noise=0.0, seed=1)
    assert sc.frames.shape == sc.background.shape == sc.foreground_mask.shape == (30, 24, 32)
    # the background is exactly rank 2 as a (T, pixels) matrix; rank 1 without lighting
    s = np.linalg.svd(sc.background.reshape(30, -1), compute_uv=False)
    assert s[1] > 1e-3 * s[0] and s[2] < 1e-12 * s[0] and sc.background_rank == 2
    flat = moving_objects_video(30, 24, 32, illumination=0.0, seed=1)
    s = np.linalg.svd(flat.background.reshape(30, -1), compute_uv=False)
    assert s[1] < 1e-12 * s[0] and flat.background_rank == 1
    # frames = background outside the objects (noise-free), objects move
    np.testing.assert_array_equal(
        sc.frames[~sc.foreground_mask], sc.background[~sc.foreground_mask]
    )
    assert 0.01 < sc.foreground_mask.mean() < 0.3
    assert not np.array_equal(sc.foreground_mask[0], sc.foreground_mask[-1])
    # seeded
    again = moving_objects_video(30, 24, 32, n_objects=2, noise=0.0, seed=1)
    np.testing.assert_array_equal(again.frames, sc.frames)


def test_altproj_background_subtraction(scene):
    res = background_subtraction(scene.frames, backend="cpu")
    assert res.method == "altproj" and res.converged and res.rank == 2  # estimated
    assert res.background.shape == res.foreground.shape == scene.frames.shape
    assert res.foreground_mask.shape == scene.frames.shape and res.foreground_mask.dtype == bool
    assert rel(res.background, scene.background) < 0.01
    sc = foreground_scores(scene.foreground_mask, res.foreground_mask)
    assert sc["f1"] > 0.97 and sc["fpr"] < 0.005
    # the noise estimate and the default threshold: 3 sigma
    assert res.noise == pytest.approx(0.01, rel=0.2)
    assert res.threshold == pytest.approx(3 * res.noise)


def test_ialm_background_subtraction(scene):
    res = background_subtraction(scene.frames, method="ialm", backend="cpu")
    assert res.method == "ialm" and res.converged
    sc = foreground_scores(scene.foreground_mask, res.foreground_mask)
    assert sc["f1"] > 0.95
    assert rel(res.background, scene.background) < 0.02


def test_fixed_rank_and_user_threshold(scene):
    res = background_subtraction(scene.frames, rank=2, threshold=0.2, backend="cpu")
    assert res.rank == 2 and res.threshold == 0.2
    np.testing.assert_array_equal(res.foreground_mask, np.abs(res.foreground) > 0.2)
    # rank 1 cannot hold the lighting change: a worse background
    r1 = background_subtraction(scene.frames, rank=1, backend="cpu")
    assert rel(r1.background, scene.background) > 3 * rel(res.background, scene.background)


def test_missing_pixels_are_completed(scene):
    mask = random_mask(scene.frames.shape, 0.25, seed=4)
    res = background_subtraction(np.where(mask, scene.frames, 0.0), mask=mask, backend="cpu")
    # background everywhere, the holes included
    assert rel(res.background, scene.background) < 0.015
    holes = ~mask & ~scene.foreground_mask
    assert np.abs(res.background[holes] - scene.background[holes]).mean() < 0.01
    assert not res.foreground[~mask].any() and not res.foreground_mask[~mask].any()
    sc = foreground_scores(scene.foreground_mask, res.foreground_mask, where=mask)
    assert sc["f1"] > 0.95


def test_colour_video_and_mask_per_pixel():
    sc = moving_objects_video(40, 24, 32, noise=0.005, seed=7)
    tint = np.array([1.0, 0.8, 0.6])
    frames = sc.frames[..., None] * tint  # (T, H, W, 3)
    res = background_subtraction(frames, backend="cpu")
    assert res.background.shape == frames.shape and res.foreground_mask.shape == (40, 24, 32)
    assert foreground_scores(sc.foreground_mask, res.foreground_mask)["f1"] > 0.9
    mask = random_mask((40, 24, 32), 0.2, seed=1)  # one mask for all channels
    res = background_subtraction(frames, mask=mask, backend="cpu")
    assert not res.foreground[~mask].any()


def test_uint8_video_is_accepted():
    sc = moving_objects_video(30, 20, 24, noise=0.0, seed=2)
    frames = np.round(sc.frames * 255).astype(np.uint8)
    res = background_subtraction(frames, backend="cpu")
    assert res.background.dtype == np.float64
    assert foreground_scores(sc.foreground_mask, res.foreground_mask)["f1"] > 0.95


def test_foreground_scores_by_hand():
    t = np.array([[1, 1, 0, 0]], bool)
    e = np.array([[1, 0, 1, 0]], bool)
    sc = foreground_scores(t, e)
    assert sc == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "iou": 1 / 3, "fpr": 0.5}
    )
    sc = foreground_scores(t, e, where=np.array([[1, 1, 0, 1]], bool))
    assert sc["precision"] == 1.0 and sc["recall"] == 0.5 and sc["fpr"] == 0.0
    with pytest.raises(InvalidProblemError, match="differ in shape"):
        foreground_scores(t, e.T)


def test_callback_cancels(scene):
    res = background_subtraction(
        scene.frames, backend="cpu", callback=lambda info: info.iteration >= 2
    )
    assert res.cancelled and res.n_iter == 2


def test_generic_run_and_stats(scene):
    res = solvers.run("rpca_video", {"frames": scene.frames}, {"rank": 2}, backend="cpu")
    spec = solvers.get_spec("rpca_video")
    out = spec.outputs_of(res)
    assert set(out) == {"background", "foreground", "foreground_mask"}
    st = res.stats()
    assert st["rank"] == 2 and st["method"] == "altproj" and st["threshold"] > 0


@pytest.mark.parametrize(
    "frames, kw, field, match",
    [
        (np.ones((5, 6)), {}, "inputs.frames", r"dimension\(s\)"),
        (np.ones((1, 6, 7)), {}, "inputs.frames", "at least 2"),
        (np.full((3, 4, 5), np.nan), {}, "inputs.frames", "NaN"),
        (np.ones((3, 4, 5)), {"mask": np.ones((3, 5, 4), bool)}, "inputs.mask", "shape"),
        (np.ones((3, 4, 5)), {"rank": 4}, "params.rank", r"exceeds min\(T, pixels\) = 3"),
        (np.ones((3, 4, 5)), {"threshold": -1.0}, "params.threshold", "greater than"),
        (np.ones((3, 4, 5)), {"method": "godec"}, "params.method", "altproj"),
        (np.ones((3, 4, 5)), {"method": "ialm", "rank": 1}, "params.rank", "altproj' only"),
    ],
)
def test_bad_input(frames, kw, field, match):
    with pytest.raises(InvalidProblemError, match=match) as exc:
        background_subtraction(frames, backend="cpu", **kw)
    assert exc.value.field == field


def test_strip_png(tmp_path, scene):
    pytest.importorskip("matplotlib")
    from solvers.rpca.plots import main, save_strip

    res = background_subtraction(scene.frames, backend="cpu")
    path = save_strip(
        scene.frames, res, tmp_path / "s" / "strip.png", truth_mask=scene.foreground_mask
    )
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    np.save(tmp_path / "v.npy", scene.frames[:20])
    assert main(["--out", str(tmp_path / "cli"), "--frames", str(tmp_path / "v.npy")]) == 0
    assert (tmp_path / "cli" / "background_subtraction.png").exists()
