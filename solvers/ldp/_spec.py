"""Registration of the LDP sparse-regression solver."""

from __future__ import annotations

from typing import Any

from solvers._registry import InputSpec, SolverSpec, register

from .params import LdpParams


def _solve(inputs: dict[str, Any], params: LdpParams, backend, callback):  # noqa: ANN001
    from .solver import solve

    return solve(inputs, params, backend, callback)


def _validate(inputs: dict[str, Any], params: LdpParams) -> None:
    from .solver import validate

    validate(inputs, params)


def _estimate_bytes(inputs: dict[str, Any], params: LdpParams) -> int:
    # streaming: one chunk of data, draws and reports (≤ ~64 MiB each) plus the inputs
    total = sum(int(getattr(v, "nbytes", 0)) for v in inputs.values() if v is not None)
    return int(total + 3 * 64 * 2**20)


LDP_SPEC = register(
    SolverSpec(
        name="ldp_regression",
        version="1.0.0",
        family="ldp",
        summary=(
            "Sparse linear regression under local differential privacy: estimate θ from "
            "owners' ε-LDP reports (non-interactive, with public unlabeled data, or "
            "sequentially interactive LDP-IHT), or simulate the whole protocol on X, y."
        ),
        params_model=LdpParams,
        inputs=(
            InputSpec(
                "X",
                "dense",
                ndim=(2,),
                required=False,
                description="simulation: the owners' covariates (n, d), one row per owner",
            ),
            InputSpec("y", "dense", ndim=(1,), required=False, description="simulation: (n,)"),
            InputSpec(
                "reports",
                "dense",
                ndim=(2,),
                required=False,
                description=(
                    "owners' randomized reports: (n, d(d+1)/2 + d) for nldp, (n, d) for nldp_public"
                ),
            ),
            InputSpec(
                "sums",
                "dense",
                ndim=(1, 2),
                dtype="integer",
                required=False,
                description=(
                    "a study's exact fixed-point sums: (width,), or (rounds, d) for the "
                    "interactive protocol"
                ),
            ),
            InputSpec(
                "counts",
                "dense",
                ndim=(1,),
                dtype="integer",
                required=False,
                description="reports aggregated in sums (per round for the interactive one)",
            ),
            InputSpec(
                "public_X",
                "dense",
                ndim=(2,),
                required=False,
                description="nldp_public: public unlabeled covariates (m, d)",
            ),
        ),
        outputs=("theta", "support", "theta_unthresholded", "iterates"),
        solve=_solve,
        backends=("cpu", "gpu"),
        estimate_bytes=_estimate_bytes,
        validate=_validate,
        references=(
            "Zhu, Ding, Aggarwal, Xu, Wang (2024) Improved Analysis of Sparse Linear "
            "Regression in Local Differential Privacy Model, ICLR 2024, arXiv:2310.07367",
            "Wang, Xu (2019) On Sparse Linear Regression in the Local Differential Privacy "
            "Model, ICML 2019",
            "Duchi, Jordan, Wainwright (2018) Minimax Optimal Procedures for Locally "
            "Private Estimation, JASA 113(521)",
            "Balle, Wang (2018) Improving the Gaussian Mechanism for Differential Privacy: "
            "Analytical Calibration and Optimal Denoising, ICML 2018",
        ),
    )
)
