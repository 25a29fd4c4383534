import numpy as np
import pytest
import scipy.sparse

import solvers
from solvers import InputSpec, InvalidParamsError, InvalidProblemError, UnknownSolverError


def test_rpca_is_registered_with_its_contract():
    assert "rpca" in solvers.list_solvers()
    spec = solvers.get_spec("rpca")
    assert spec.outputs == ("L", "S")
    assert [i.name for i in spec.inputs] == ["M", "mask"]  # mask: optional (issue #5)
    assert [i.required for i in spec.inputs] == [True, False]
    desc = spec.describe()
    assert desc["params_schema"]["properties"]["tol"]["default"] == 1e-7
    assert set(desc["backends"]) == {"cpu", "gpu"}


def test_unknown_solver_names_the_available_ones():
    with pytest.raises(UnknownSolverError, match="available solvers: .*rpca"):
        solvers.get_spec("nope")


def test_params_unknown_and_out_of_range_are_named():
    spec = solvers.get_spec("rpca")
    with pytest.raises(InvalidParamsError, match="unknown parameter 'tolerance'") as e:
        spec.parse_params({"tolerance": 1e-3})
    assert e.value.field == "params.tolerance"
    with pytest.raises(InvalidParamsError, match="'tol'") as e:
        spec.parse_params({"tol": -1})
    assert e.value.field == "params.tol"
    assert isinstance(e.value, InvalidProblemError) and isinstance(e.value, ValueError)


def test_inputs_checked_by_spec():
    spec = solvers.get_spec("rpca")
    with pytest.raises(InvalidProblemError, match="missing required input 'M'"):
        spec.check_inputs({})
    with pytest.raises(InvalidProblemError, match="unknown input"):
        spec.check_inputs({"M": np.eye(3), "X": np.eye(3)})
    with pytest.raises(InvalidProblemError, match=r"2 dimension\(s\), got shape \(3,\)"):
        spec.check_inputs({"M": np.ones(3)})
    bad = np.eye(4)
    bad[1, 2] = np.nan
    with pytest.raises(InvalidProblemError, match=r"shape \(4, 4\)\) contains 1 NaN"):
        spec.check_inputs({"M": bad})
    with pytest.raises(InvalidProblemError, match="real dtype"):
        spec.check_inputs({"M": np.eye(3) * 1j})
    out = spec.check_inputs({"M": np.eye(3, dtype=int)})
    assert out["M"].dtype == np.float64


def test_input_kinds_list_sparse_bytes():
    s_list = InputSpec("H", "list", ndim=(2,), dtype="numeric")
    s_sp = InputSpec("A", "sparse")
    s_b = InputSpec("model", "bytes")
    from solvers._registry import _check_one

    out = _check_one(s_list, [np.eye(2), np.ones((3, 2)) * 1j])
    assert len(out) == 2 and out[1].dtype.kind == "c"
    with pytest.raises(InvalidProblemError, match=r"'H\[1\]'"):
        _check_one(s_list, [np.eye(2), np.ones(3)])
    assert scipy.sparse.issparse(_check_one(s_sp, np.eye(3)))
    assert _check_one(s_b, b"abc").tolist() == [97, 98, 99]


def test_run_with_bad_backend_name():
    with pytest.raises(InvalidProblemError, match="backend must be one of"):
        solvers.run("rpca", {"M": np.eye(3)}, backend="tpu")


def test_families_and_demos_are_discoverable():
    assert "rpca" in solvers.available_families()
    demos = solvers.list_demos(["rpca"])
    assert demos and demos[0].solver == "rpca"
