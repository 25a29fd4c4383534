"""Bad input → InvalidProblemError naming the input and the shapes (never a crash)."""

import numpy as np
import pytest

import solvers
from solvers import BackendUnavailableError, InvalidParamsError, InvalidProblemError
from solvers.krosbl import krosbl, omp, sbl

rng = np.random.default_rng(0)
H2 = [rng.standard_normal((4, 6)), rng.standard_normal((5, 7))]
Y = rng.standard_normal(20)


@pytest.mark.parametrize(
    "y, H, kwargs, field, match",
    [
        (Y, [H2[0]], {}, "inputs.H", "K >= 2"),
        (Y, H2[0], {}, "inputs.H", "K >= 2"),
        (Y, [], {}, "inputs.H", "K >= 2"),
        (rng.standard_normal(21), H2, {}, "inputs.y", "(21,)"),
        (rng.standard_normal((19, 2)), H2, {}, "inputs.y", "M = 4 x 5 = 20"),
        (rng.standard_normal((20, 2, 2)), H2, {}, "inputs.y", "dimension"),
        (np.where(np.arange(20) == 3, np.nan, Y), H2, {}, "inputs.y", "NaN"),
        (Y, [H2[0], np.full((5, 7), np.inf)], {}, "inputs.H[1]", "NaN or infinite"),
        (Y, [H2[0], rng.standard_normal(7)], {}, "inputs.H[1]", "dimension"),
        (Y, [H2[0], np.zeros((5, 0))], {}, "inputs.H[1]", "at least 1"),
        (np.zeros(20), H2, {}, "inputs.y", "all zeros"),
        (Y, [H2[0], np.array([["a"] * 7] * 5)], {}, "inputs.H[1]", "numeric"),
        (Y, H2, {"block_sizes": [3], "method": "am"}, "params.block_sizes", "one entry per factor"),
        (Y, H2, {"block_sizes": [3, 3]}, "params.block_sizes", "method='am'"),
        (Y, H2, {"block_sizes": [3, 9], "method": "am"}, "params.block_sizes", "[1, 7]"),
        (Y, H2, {"prune": [1e-3]}, "params.prune", "one threshold per factor"),
        (Y, H2, {"method": "lasso"}, "params.method", "'svd', 'am' or 'sbl'"),
        (Y, H2, {"tol": 0}, "params.tol", "greater than 0"),
        (Y, H2, {"maxiter": 0}, "params.maxiter", "greater than or equal to 1"),
        (Y, H2, {"bogus": 1}, "params.bogus", "unknown parameter"),
    ],
)
def test_bad_problem_raises_invalid_problem(y, H, kwargs, field, match):
    with pytest.raises(InvalidProblemError) as ei:
        krosbl(y, H, backend="cpu", **kwargs)
    assert ei.value.field == field, (ei.value.field, ei.value.message)
    assert match in ei.value.message


def test_complex_y_with_negative_noise_var():
    yc = Y + 1j * rng.standard_normal(20)
    with pytest.raises(InvalidParamsError) as ei:
        krosbl(yc, H2, noise_var=-1.0, backend="cpu")
    assert ei.value.field == "params.noise_var" and "greater than or equal to 0" in ei.value.message
    with pytest.raises(InvalidProblemError):
        sbl(yc, H2, noise_var=-0.5, backend="cpu")


def test_messages_name_the_shapes():
    with pytest.raises(InvalidProblemError) as ei:
        krosbl(rng.standard_normal(21), H2, backend="cpu")
    msg = ei.value.message
    assert "(21,)" in msg and "(4, 6)" in msg and "(5, 7)" in msg and "20" in msg


def test_sbl_refuses_a_dictionary_it_cannot_hold():
    big = [np.ones((1 << 10, 1 << 10)), np.ones((1 << 5, 1 << 4))]
    with pytest.raises(InvalidProblemError) as ei:
        solvers.prepare("krosbl", {"y": np.ones(1 << 15), "H": big}, {"method": "sbl"})
    assert ei.value.field == "params.method" and "explicit" in ei.value.message


def test_gpu_without_a_gpu_is_backend_unavailable():
    import gpu

    if gpu.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(BackendUnavailableError):
        krosbl(Y, H2, backend="gpu")


def test_omp_checks_shapes():
    with pytest.raises(InvalidProblemError):
        omp(rng.standard_normal(19), H2)


def test_prepare_rejects_at_submission():
    with pytest.raises(InvalidProblemError) as ei:
        solvers.prepare("krosbl", {"y": Y, "H": [H2[0]]}, {})
    assert ei.value.field == "inputs.H"
    spec, checked, p = solvers.prepare("krosbl", {"y": Y, "H": H2}, {"method": "am"})
    assert p.method == "am" and len(checked["H"]) == 2
