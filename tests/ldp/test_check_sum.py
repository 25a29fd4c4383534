"""The server's fused check + exact sum equals the NumPy check followed by the sum."""

import numpy as np
import pytest

from solvers import InvalidProblemError
from solvers.ldp import Aggregate, Layout, LdpParams, resolve
from solvers.ldp import randomizers as rz


@pytest.mark.parametrize("mech, kw", [("l2ball", {}), ("gaussian", {"delta": 1e-6})])
def test_fused_check_sum_accepts_and_rejects_like_the_numpy_check(mech, kw):
    rng = np.random.default_rng(0)
    d = 5
    cfg = resolve(
        LdpParams(k=2, epsilon=2.0, mechanism=mech, r=2.0, tau_x=1.0, tau_y=1.0, **kw), d=d
    )
    lay = Layout.for_config(cfg)
    X = rng.standard_normal((9000, d))  # noqa: N806
    R = rz.randomize_nldp(X, X[:, 1], epsilon=2.0, bounds=cfg.bounds, rng=rng, mechanism=mech, **kw)  # noqa: N806
    a, b = Aggregate(lay), Aggregate(lay)
    a.add_checked(R)
    b.add(lay.check(R))
    assert np.array_equal(a.sums, b.sums) and a.count == b.count == 9000
    raw = np.hstack(rz.nldp_statistics(X[:50], X[:50, 1], cfg.bounds))
    cases = [(R.copy(), 6000, 3, np.nan, "NaN"), (R.copy(), 8000, 0, 1e9, "above the bound")]
    if mech == "l2ball":
        cases.append((R.copy(), 4500, 2, 0.0, "norm"))
    for bad, i, j, v, match in cases:
        bad[i, j] = v
        before = a.sums.copy()
        with pytest.raises(InvalidProblemError, match=match) as exc:
            a.add_checked(bad)
        assert f"report {i}" in exc.value.message
        assert np.array_equal(a.sums, before) and a.count == 9000  # nothing added
    with pytest.raises(InvalidProblemError, match="norm"):
        a.add_checked(np.vstack([R[:10], raw]))
    with pytest.raises(InvalidProblemError, match="shape"):
        a.add_checked(R[:, :-1])
