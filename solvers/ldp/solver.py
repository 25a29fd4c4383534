"""LDP sparse linear regression: server-side estimation and whole-protocol simulation.

* :func:`estimate` — the non-interactive server: check the owners' reports against the
  protocol's schema, aggregate them exactly, estimate θ (``nldp``: private covariance
  and cross term; ``nldp_public``: private cross term + public unlabeled covariates).
* :class:`~solvers.ldp.interactive.InteractiveServer` — the sequentially interactive
  server (state machine).
* :func:`ldp_regression` — simulates a whole protocol on one machine (each row of ``X``
  is one owner), streaming the owners in chunks.

Every result records the privacy accounting (``epsilon``, ``delta``, one report per
owner) and the exact noise scales of every release (``result.noise``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from solvers._backend import Backend, get_backend
from solvers._errors import InvalidProblemError
from solvers._progress import Callback, Progress
from solvers._result import SolverResult
from solvers._validation import as_array

from . import estimators as est
from .interactive import InteractiveServer
from .params import LdpParams
from .problems import ArraySource
from .protocol import Aggregate, Layout, Resolved, resolve
from .randomizers import dim_from_width, unpack_symmetric


@dataclass(kw_only=True)
class LdpResult(SolverResult):
    """Result of :func:`estimate` / :func:`ldp_regression`.

    Attributes
    ----------
    theta : ndarray, shape (d,)
        The estimate (k-sparse for ``threshold="topk"`` and the interactive protocol).
    support : ndarray of int64
        Sorted indices of the nonzeros of ``theta``.
    theta_unthresholded : ndarray or None
        Non-interactive: ``Σ̂₊⁻¹ b̂`` before thresholding; interactive: the last
        (k'-sparse) iterate ``θ_T``.
    iterates : ndarray or None
        Interactive: ``(rounds + 1, d)``, θ_0 = 0 then every broadcast iterate.
    epsilon, delta : float
        Privacy of each owner: every owner sends one report, ε-LDP (δ = 0 for the pure
        ℓ2-ball mechanism) or (ε, δ)-LDP for the Gaussian mechanism.
    reports_per_owner : int
        Always 1.
    protocol, mechanism, estimator : str
    n_owners : int
        Owners whose reports were aggregated.
    noise : dict
        Per release (``cov``, ``xy``, ``grad``): mechanism, ε, δ, radius, sensitivity,
        scale (``B`` or σ), per-coordinate noise sd, classic σ when valid. Interactive:
        the first round's (every round's radius is in ``info["rounds"]``).
    bounds : dict
        ``r``, ``tau_x``, ``tau_y``.
    info : dict
        Everything above in JSON form plus diagnostics (eigenvalue floor, timings, seed).
    """

    theta: np.ndarray
    support: np.ndarray
    theta_unthresholded: np.ndarray | None = None
    iterates: np.ndarray | None = None
    epsilon: float = 0.0
    delta: float = 0.0
    reports_per_owner: int = 1
    protocol: str = "nldp"
    mechanism: str = "l2ball"
    estimator: str = "plugin"
    n_owners: int = 0
    noise: dict[str, Any] = field(default_factory=dict)
    bounds: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] | None = None


# -- parameters -------------------------------------------------------------------------------
def parse_params(**kwargs: Any) -> LdpParams:
    """Validate keyword options into :class:`LdpParams` (raises InvalidParamsError)."""
    from solvers._registry import get_spec

    return get_spec("ldp_regression").parse_params(
        {k: v for k, v in kwargs.items() if v is not None or k in ("theta_bound",)}
    )


def _public_covariance(public_X: Any, d: int, be: Backend) -> Any:  # noqa: N803
    P = as_array(public_X, "public_X", ndim=2)  # noqa: N806
    if P.shape[1] != d:
        raise InvalidProblemError(
            f"public_X has {P.shape[1]} columns but the owners' x have d = {d}; shape {P.shape}",
            field="inputs.public_X",
        )
    Pd = be.asarray(np.ascontiguousarray(P, dtype=np.float64))  # noqa: N806
    return (Pd.T @ Pd) / P.shape[0], int(P.shape[0])


def _noise_info(layouts: list[Layout]) -> dict[str, Any]:
    return {ch.name: ch.to_dict() for lay in layouts[:1] for ch in lay.channels}


def _finish(
    *,
    theta: Any,
    theta0: Any,
    cfg: Resolved,
    p: LdpParams,
    be: Backend,
    n_owners: int,
    layout: Layout,
    extra: dict[str, Any],
    t_start: float,
    cancelled: bool = False,
    iterates: np.ndarray | None = None,
    n_iter: int = 1,
    residuals: np.ndarray | None = None,
) -> LdpResult:
    theta_h = np.asarray(be.to_host(theta), dtype=np.float64)
    support = np.flatnonzero(theta_h).astype(np.int64)
    noise = _noise_info([layout])
    delta = 0.0 if cfg.mechanism == "l2ball" else float(cfg.delta)
    info = {
        "protocol": cfg.protocol,
        "mechanism": cfg.mechanism,
        "estimator": p.estimator if cfg.protocol != "interactive" else "ldp-iht",
        "epsilon": cfg.epsilon,
        "delta": delta,
        "reports_per_owner": 1,
        "n_owners": n_owners,
        "d": cfg.d,
        "k": cfg.k,
        "bounds": cfg.bounds.to_dict(),
        "noise": noise,
        "config": cfg.to_config(),
        **extra,
    }
    return LdpResult(
        theta=theta_h,
        support=support,
        theta_unthresholded=None if theta0 is None else np.asarray(be.to_host(theta0)),
        iterates=iterates,
        epsilon=cfg.epsilon,
        delta=delta,
        protocol=cfg.protocol,
        mechanism=cfg.mechanism,
        estimator=info["estimator"],
        n_owners=n_owners,
        noise=noise,
        bounds=cfg.bounds.to_dict(),
        info=info,
        n_iter=n_iter,
        converged=not cancelled,
        cancelled=cancelled,
        residuals=np.zeros(0) if residuals is None else residuals,
        elapsed=time.perf_counter() - t_start,
        backend=be.name,
    )


def _estimate_from_aggregate(
    agg: Aggregate,
    cfg: Resolved,
    p: LdpParams,
    be: Backend,
    public_cov: Any = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Non-interactive estimate from the exact aggregate."""
    xp = be.xp
    mean = agg.mean()
    d = cfg.d
    if cfg.protocol == "nldp":
        D = d * (d + 1) // 2  # noqa: N806
        S = be.asarray(unpack_symmetric(mean[:D], d))  # noqa: N806
        b = be.asarray(mean[D:])
        sd_cov = agg.layout.channels[0].coordinate_sd
        sd_xy = agg.layout.channels[1].coordinate_sd
        noise_norm = est.noise_spectral_norm(sd_cov, agg.count, d)
    else:
        S, b = public_cov, be.asarray(mean)  # noqa: N806
        sd_cov, sd_xy = 0.0, agg.layout.channels[0].coordinate_sd
        noise_norm = 0.0  # the public covariance carries no privacy noise
    kw = {"k": cfg.k, "min_eig": p.min_eig, "theta_bound": cfg.theta_bound, "xp": xp}
    if p.estimator == "iht":
        theta, theta0, info = est.iht_quadratic(S, b, **kw)
    else:
        lam = p.lam
        if p.threshold == "soft" and lam is None:
            lam = est.default_lambda(agg.count, d, sd_xy, sd_cov, cfg.theta_bound or 1.0)
        theta, theta0, info = est.plugin(
            S,
            b,
            threshold=p.threshold,
            lam=lam,
            noise_norm=noise_norm,
            noise_floor=p.noise_floor,
            **kw,
        )
    info["threshold"] = p.threshold if p.estimator == "plugin" else "iht"
    return theta, theta0, info


# -- public API ---------------------------------------------------------------------------------
def estimate(
    reports: Any,
    *,
    k: int,
    protocol: str = "nldp",
    public_X: Any = None,  # noqa: N803
    epsilon: float,
    delta: float | None = None,
    mechanism: str = "l2ball",
    r: float | None = None,
    tau_x: float | None = None,
    tau_y: float | None = None,
    split: float = 0.5,
    estimator: str = "plugin",
    threshold: str = "topk",
    lam: float | None = None,
    min_eig: float = 0.05,
    noise_floor: float = 0.5,
    theta_bound: float | None = 1.0,
    check: bool = True,
    backend: str | Backend = "auto",
) -> LdpResult:
    """Estimate θ from the owners' non-interactive reports (the server's side).

    Parameters
    ----------
    reports : array (n, width), list of arrays (batches) or Aggregate
        ``"nldp"``: ``width = d(d+1)/2 + d`` (:func:`randomizers.randomize_nldp`);
        ``"nldp_public"``: ``width = d`` (:func:`randomizers.randomize_public`).
    k : int
        Sparsity of θ (``1 ≤ k ≤ d``).
    protocol : {"nldp", "nldp_public"}
        The interactive protocol is served by :class:`InteractiveServer`.
    public_X : (m, d) array_like, optional
        Public unlabeled covariates (required for ``"nldp_public"``).
    epsilon, delta, mechanism, r, tau_x, tau_y, split
        The study's public parameters, as the owners used them (the schema check
        and the noise scales depend on them). Missing bounds default to
        :func:`randomizers.default_bounds` for ``n`` = the number of reports.
    estimator : {"plugin", "iht"}
        ``"plugin"``: the paper's ``S(Σ̂₊⁻¹ b̂)``; ``"iht"``: k-sparse least squares on
        the private statistics.
    threshold : {"topk", "soft"}
        plugin: keep the ``k`` largest entries, or soft-threshold at ``lam`` (the paper's
        form; default λ from the public noise scales).
    min_eig : float
        Eigenvalue floor of Σ̂ relative to its mean |eigenvalue| (its mean diagonal
        when Σ̂ is PSD).
    noise_floor : float
        plugin, ``"nldp"``: Σ̂'s eigenvalues are also floored at ``noise_floor × 2σ_A√d``,
        the known spectral norm of its privacy noise (σ_A = per-coordinate noise sd /
        √n; :func:`estimators.noise_spectral_norm`); 0 = the paper's plug-in as is.
    theta_bound : float or None
        Known ``‖θ*‖₂`` bound; the estimate is projected onto that ball.
    check : bool
        Check every report against the schema (ℓ2-ball norms, bounds, raw-looking
        Gaussian reports).
    backend : {"auto", "cpu", "gpu"}

    Returns
    -------
    LdpResult

    Raises
    ------
    InvalidProblemError
        Bad parameters (ε ≤ 0, k > d, ...), reports of the wrong width or not produced
        by the study's randomizer, missing ``public_X``.

    References
    ----------
    .. [1] L. Zhu, M. Ding, V. Aggarwal, J. Xu, D. Wang, "Improved Analysis of Sparse
       Linear Regression in Local Differential Privacy Model", ICLR 2024,
       arXiv:2310.07367 (Algorithm 1 and its public-data variant).
    """
    t_start = time.perf_counter()
    if protocol == "interactive":
        raise InvalidProblemError(
            "estimate() serves the non-interactive protocols; the interactive protocol's "
            "server is solvers.ldp.InteractiveServer (or ldp_regression(..., "
            "protocol='interactive') to simulate it)",
            field="params.protocol",
        )
    p = parse_params(
        k=k,
        protocol=protocol,
        epsilon=epsilon,
        delta=delta,
        mechanism=mechanism,
        r=r,
        tau_x=tau_x,
        tau_y=tau_y,
        split=split,
        estimator=estimator,
        threshold=threshold,
        lam=lam,
        min_eig=min_eig,
        noise_floor=noise_floor,
        theta_bound=theta_bound,
        check_reports=check,
    )
    be = get_backend(backend)
    if isinstance(reports, Aggregate):
        batches: list[Any] = []
        width = reports.layout.width
        n = reports.count
    else:
        batches = list(reports) if isinstance(reports, (list, tuple)) else [reports]
        if not batches:
            raise InvalidProblemError("no reports", field="inputs.reports")
        batches = [np.asarray(b) for b in batches]
        batches = [b[None, :] if b.ndim == 1 else b for b in batches]
        for b in batches:
            if b.ndim != 2:
                raise InvalidProblemError(
                    f"reports must be 2-D (one row per owner), got shape {b.shape}",
                    field="inputs.reports",
                )
        width = int(batches[0].shape[1])
        n = sum(int(b.shape[0]) for b in batches)
    try:
        d = dim_from_width(width, protocol)
    except ValueError as exc:
        raise InvalidProblemError(str(exc), field="inputs.reports") from None
    cfg = resolve(p, d=d, n=n)
    layout = Layout.for_config(cfg)
    if isinstance(reports, Aggregate):
        if reports.layout.width != layout.width or not np.array_equal(
            reports.layout.quanta, layout.quanta
        ):
            raise InvalidProblemError(
                "the aggregate was built for another study configuration", field="inputs.reports"
            )
        agg = reports
    else:
        agg = Aggregate(layout)
        for b in batches:
            if check:  # on the host, where reports arrive: check + exact sum in one pass
                agg.add_checked(b)
            else:
                agg.add(b, be)
    return _estimate_noninteractive(agg, cfg, p, be, public_X, t_start)


def _estimate_noninteractive(
    agg: Aggregate,
    cfg: Resolved,
    p: LdpParams,
    be: Backend,
    public_X: Any,  # noqa: N803
    t_start: float,
    extra: dict[str, Any] | None = None,
    cancelled: bool = False,
) -> LdpResult:
    public_cov = None
    extra = dict(extra or {})
    if cfg.protocol == "nldp_public":
        if public_X is None:
            raise InvalidProblemError(
                "protocol 'nldp_public' needs the public unlabeled covariates public_X (m, d)",
                field="inputs.public_X",
            )
        public_cov, m = _public_covariance(public_X, cfg.d, be)
        extra["public_samples"] = m
    elif public_X is not None:
        raise InvalidProblemError(
            f"public_X is only used by protocol 'nldp_public', not {cfg.protocol!r}",
            field="inputs.public_X",
        )
    t0 = time.perf_counter()
    if agg.count < 1:
        theta = be.xp.zeros(cfg.d)
        theta0, info = None, {"empty": True}
    else:
        theta, theta0, info = _estimate_from_aggregate(agg, cfg, p, be, public_cov)
    be.synchronize()
    extra.update(info)
    extra.setdefault("timings", {})["estimate"] = time.perf_counter() - t0
    return _finish(
        theta=theta,
        theta0=theta0,
        cfg=cfg,
        p=p,
        be=be,
        n_owners=agg.count,
        layout=agg.layout,
        extra=extra,
        t_start=t_start,
        cancelled=cancelled,
    )


def ldp_regression(
    X: Any,  # noqa: N803
    y: Any = None,
    *,
    k: int,
    epsilon: float,
    protocol: str = "nldp",
    public_X: Any = None,  # noqa: N803
    seed: int | None = None,
    backend: str | Backend = "auto",
    delta: float | None = None,
    mechanism: str = "l2ball",
    callback: Callback | None = None,
    **options: Any,
) -> LdpResult:
    """Simulate an LDP sparse-regression protocol on one machine (each row = one owner).

    Every owner randomizes its own ``(x_i, y_i)`` with the protocol's ε-LDP randomizer
    and sends one report; the server aggregates the reports exactly and estimates θ.
    Owners are streamed in chunks (bounded memory), so ``n`` may be 10⁷ or more.

    Parameters
    ----------
    X : (n, d) array_like, or an owner source
        The owners' covariates, or a source such as
        :class:`~solvers.ldp.problems.SyntheticProblem` (then ``y`` is None).
    y : (n,) array_like
    k : int
        Sparsity (``1 ≤ k ≤ d``).
    epsilon : float
        Each owner's budget (> 0).
    protocol : {"nldp", "nldp_public", "interactive"}
        Non-interactive (private ``x xᵀ`` and ``x y``), non-interactive with public
        unlabeled data (private ``x y`` only), or sequentially interactive LDP-IHT.
    public_X : (m, d) array_like, optional
        Public unlabeled covariates (``"nldp_public"``).
    seed : int, optional
        Seeds every owner's randomizer (results do not depend on the chunking, the
        number of threads or the backend).
    backend : {"auto", "cpu", "gpu"}
        Where the reports are generated and aggregated (the random draws are NumPy).
    delta : float, optional
        δ of the Gaussian mechanism.
    mechanism : {"l2ball", "gaussian"}
        Pure ε-LDP ℓ2-ball mechanism (default) or (ε, δ) Gaussian (analytic calibration).
    callback : callable, optional
        Progress per chunk (non-interactive) or round (interactive); True cancels.
    **options
        Any field of :class:`~solvers.ldp.params.LdpParams`: bounds ``r``, ``tau_x``,
        ``tau_y`` (default :func:`randomizers.default_bounds`), ``split``, ``rounds``,
        ``round_size``, ``k_prime``, ``eta``, ``theta_bound``, ``estimator``,
        ``threshold``, ``lam``, ``min_eig``, ``noise_floor``, ``chunk_size``, ``simulate``
        (``"message"`` / ``"aggregate"``), ``x_scale``, ``y_scale``.

    Returns
    -------
    LdpResult
        ``.theta``, ``.support``, ``.epsilon``/``.delta`` (per owner, one report each),
        ``.noise`` (exact noise scales of every release), ``.bounds``, ``.info``.

    Raises
    ------
    InvalidProblemError
        Non-finite data, mismatched shapes, ε ≤ 0, ``k > d``, a missing ``public_X``...
    BackendUnavailableError
        ``backend="gpu"`` without a usable GPU.

    References
    ----------
    .. [1] L. Zhu, M. Ding, V. Aggarwal, J. Xu, D. Wang, "Improved Analysis of Sparse
       Linear Regression in Local Differential Privacy Model", ICLR 2024,
       arXiv:2310.07367.
    .. [2] J. C. Duchi, M. I. Jordan, M. J. Wainwright, "Minimax Optimal Procedures for
       Locally Private Estimation", JASA 113(521), 2018.
    .. [3] B. Balle, Y.-X. Wang, "Improving the Gaussian Mechanism for Differential
       Privacy", ICML 2018.

    Examples
    --------
    >>> from solvers.ldp import ldp_regression, SyntheticProblem
    >>> prob = SyntheticProblem(10**7, 10, 2, seed=0)
    >>> res = ldp_regression(prob, k=2, epsilon=4.0, protocol="interactive", seed=1)
    >>> prob.error(res.theta), prob.support_recovered(res.theta), res.epsilon
    """
    p = parse_params(
        k=k,
        epsilon=epsilon,
        protocol=protocol,
        delta=delta,
        mechanism=mechanism,
        seed=seed,
        **options,
    )
    source = X if y is None and hasattr(X, "rows") else ArraySource(X, y)
    return simulate(source, p, public_X=public_X, backend=backend, callback=callback)


def simulate(
    source: Any,
    p: LdpParams,
    *,
    public_X: Any = None,  # noqa: N803
    backend: str | Backend = "auto",
    callback: Callback | None = None,
) -> LdpResult:
    """Run the protocol of ``p`` over the owners of ``source`` (see :func:`ldp_regression`)."""
    from .simulate import run_interactive, run_noninteractive

    t_start = time.perf_counter()
    be = get_backend(backend)
    if source.n < 1:
        raise InvalidProblemError("there are no owners (0 rows)", field="inputs.X")
    cfg = resolve(p, d=source.d, n=source.n, x_scale=p.x_scale, y_scale=p.y_scale)
    mode = p.simulate
    if mode == "auto":
        mode = "aggregate" if cfg.mechanism == "gaussian" else "message"
    if mode == "aggregate" and cfg.mechanism != "gaussian":
        raise InvalidProblemError(
            "simulate='aggregate' draws the exact sum of Gaussian noise, which only exists "
            "for mechanism='gaussian'; the l2ball mechanism is simulated message by message",
            field="params.simulate",
        )
    if cfg.protocol == "nldp_public" and public_X is None:
        raise InvalidProblemError(
            "protocol 'nldp_public' needs the public unlabeled covariates public_X (m, d)",
            field="inputs.public_X",
        )
    entropy = p.seed if p.seed is not None else int(np.random.SeedSequence().entropy % 2**63)
    threads = _threads()
    common = {
        "be": be,
        "entropy": entropy,
        "mode": mode,
        "chunk_size": p.chunk_size,
        "threads": threads,
    }
    extra = {"seed": entropy, "simulate": mode, "threads": threads}
    if cfg.protocol == "interactive":
        prog = Progress(callback, max_iter=cfg.rounds)
        server, times, cancelled = run_interactive(source, cfg, prog=prog, **common)
        extra["timings"] = times
        extra["rounds"] = [
            {"round": h["round"], "owners": h["count"], "radius": h["radius"], "scale": h["scale"]}
            for h in server.history
        ]
        extra["k_prime"] = cfg.k_prime
        iterates = server.iterates()
        theta = server.estimate()
        moves = np.linalg.norm(np.diff(iterates, axis=0), axis=1) if len(iterates) > 1 else None
        return _finish(
            theta=theta,
            theta0=server.theta,
            cfg=cfg,
            p=p,
            be=be,
            n_owners=sum(h["count"] for h in server.history),
            layout=Layout.for_config(cfg),
            extra=extra,
            t_start=t_start,
            cancelled=cancelled,
            iterates=iterates,
            n_iter=len(server.history),
            residuals=moves,
        )
    prog = Progress(callback, max_iter=None)
    agg, times, cancelled = run_noninteractive(source, cfg, prog=prog, **common)
    extra["timings"] = times
    return _estimate_noninteractive(agg, cfg, p, be, public_X, t_start, extra, cancelled)


def _threads() -> int:
    try:
        import numba

        return int(numba.get_num_threads())
    except Exception:  # noqa: BLE001 - numba always ships; be safe
        return 1


# -- the registered solver -----------------------------------------------------------------------
def _mode(inputs: dict[str, Any]) -> str:
    has = {k for k, v in inputs.items() if v is not None}
    modes = []
    if {"X", "y"} & has:
        modes.append("simulate")
    if "reports" in has:
        modes.append("reports")
    if {"sums", "counts"} & has:
        modes.append("aggregate")
    if len(modes) != 1:
        raise InvalidProblemError(
            "give exactly one of: X and y (simulate the protocol), reports (estimate from "
            "the owners' reports), or sums and counts (a study's exact aggregate); got "
            f"inputs {sorted(has)}",
            field="inputs",
        )
    return modes[0]


def validate(inputs: dict[str, Any], p: LdpParams) -> None:
    """Cross-input checks of solver ``"ldp_regression"`` (run at submission)."""
    mode = _mode(inputs)
    if mode == "simulate":
        if inputs.get("X") is None or inputs.get("y") is None:
            raise InvalidProblemError("simulation needs both X and y", field="inputs.y")
        X, y = inputs["X"], inputs["y"]  # noqa: N806
        if X.shape[0] != y.shape[0]:
            raise InvalidProblemError(
                f"X has {X.shape[0]} rows (owners) but y has {y.shape[0]} entries; shapes X "
                f"{X.shape}, y {y.shape}",
                field="inputs.y",
            )
        d, n = int(X.shape[1]), int(X.shape[0])
        if p.simulate == "aggregate" and p.mechanism != "gaussian":
            raise InvalidProblemError(
                "simulate='aggregate' needs mechanism='gaussian'", field="params.simulate"
            )
    elif mode == "reports":
        R = inputs["reports"]  # noqa: N806
        if p.protocol == "interactive":
            raise InvalidProblemError(
                "reports of the interactive protocol are aggregated round by round by a study "
                "(POST /api/v1/ldp/studies); give its sums and counts",
                field="params.protocol",
            )
        try:
            d = dim_from_width(int(R.shape[1]), p.protocol)
        except ValueError as exc:
            raise InvalidProblemError(str(exc), field="inputs.reports") from None
        n = int(R.shape[0])
    else:
        sums, counts = inputs.get("sums"), inputs.get("counts")
        if sums is None or counts is None:
            raise InvalidProblemError(
                "an aggregate needs both sums and counts", field="inputs.sums"
            )
        if p.d is None:
            raise InvalidProblemError("an aggregate needs params.d", field="params.d")
        d = p.d
        n = int(np.sum(counts))
        if p.protocol == "interactive":
            if sums.ndim != 2 or sums.shape[1] != d or sums.shape[0] != counts.size:
                raise InvalidProblemError(
                    f"interactive sums must be (rounds, {d}) with one count per round, got "
                    f"sums {sums.shape} and counts {counts.shape}",
                    field="inputs.sums",
                )
        else:
            from .randomizers import report_width

            if sums.shape != (report_width(d, p.protocol),) or counts.size != 1:
                raise InvalidProblemError(
                    f"{p.protocol} sums must have shape ({report_width(d, p.protocol)},) and "
                    f"counts one entry, got sums {sums.shape} and counts {counts.shape}",
                    field="inputs.sums",
                )
        if (np.asarray(counts) < 0).any():
            raise InvalidProblemError("counts must be >= 0", field="inputs.counts")
    if p.k > d:
        raise InvalidProblemError(f"k = {p.k} exceeds the dimension d = {d}", field="params.k")
    public = inputs.get("public_X")
    if p.protocol == "nldp_public":
        if public is None:
            raise InvalidProblemError(
                "protocol 'nldp_public' needs the public unlabeled covariates public_X (m, d)",
                field="inputs.public_X",
            )
        if public.shape[1] != d:
            raise InvalidProblemError(
                f"public_X has {public.shape[1]} columns but d = {d}; shape {public.shape}",
                field="inputs.public_X",
            )
    elif public is not None:
        raise InvalidProblemError(
            f"public_X is only used by protocol 'nldp_public', not {p.protocol!r}",
            field="inputs.public_X",
        )
    resolve(p, d=d, n=max(n, 1))


def solve(
    inputs: dict[str, Any], p: LdpParams, backend: Backend, callback: Callback | None
) -> LdpResult:
    """The registry's entry point (solver ``"ldp_regression"``)."""
    validate(inputs, p)
    mode = _mode(inputs)
    public = inputs.get("public_X")
    if mode == "simulate":
        return simulate(
            ArraySource(inputs["X"], inputs["y"]),
            p,
            public_X=public,
            backend=backend,
            callback=callback,
        )
    if mode == "reports":
        R = inputs["reports"]  # noqa: N806
        d = dim_from_width(int(R.shape[1]), p.protocol)
        cfg = resolve(p, d=d, n=int(R.shape[0]))
        layout = Layout.for_config(cfg)
        agg = Aggregate(layout)
        if p.check_reports:
            agg.add_checked(R)
        else:
            agg.add(R, backend)
        return _estimate_noninteractive(agg, cfg, p, backend, public, time.perf_counter())
    return estimate_from_sums(inputs["sums"], inputs["counts"], p, public_X=public, backend=backend)


def estimate_from_sums(
    sums: Any,
    counts: Any,
    p: LdpParams,
    *,
    public_X: Any = None,  # noqa: N803
    backend: str | Backend = "cpu",
) -> LdpResult:
    """Estimate from a study's exact aggregate (what the study's estimate job runs).

    ``sums``: the int64 fixed-point sums — ``(width,)`` for the non-interactive
    protocols, ``(completed rounds, d)`` for the interactive one (replayed round by
    round); ``counts``: the number of reports (per round).
    """
    t_start = time.perf_counter()
    be = get_backend(backend)
    sums = np.asarray(sums, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64).ravel()
    cfg = resolve(p, d=p.d, n=int(max(counts.sum(), 1)))
    if cfg.protocol == "interactive":
        server = InteractiveServer.replay(cfg, sums, counts)
        iterates = server.iterates()
        extra = {
            "rounds_completed": len(server.history),
            "rounds": [
                {
                    "round": h["round"],
                    "owners": h["count"],
                    "radius": h["radius"],
                    "scale": h["scale"],
                }
                for h in server.history
            ],
            "k_prime": cfg.k_prime,
        }
        return _finish(
            theta=server.estimate(),
            theta0=server.theta,
            cfg=cfg,
            p=p,
            be=be,
            n_owners=int(counts.sum()),
            layout=Layout.for_config(cfg),
            extra=extra,
            t_start=t_start,
            iterates=iterates,
            n_iter=len(server.history),
        )
    layout = Layout.for_config(cfg)
    agg = Aggregate(layout, sums.ravel(), int(counts.sum()))
    if agg.count < 1:
        raise InvalidProblemError("the study has no reports yet", field="inputs.counts")
    return _estimate_noninteractive(agg, cfg, p, be, public_X, t_start)


def support_of(theta: Any) -> np.ndarray:
    """Sorted indices of the nonzeros of ``theta``."""
    return np.flatnonzero(np.asarray(theta)).astype(np.int64)


def relative_error(theta: Any, truth: Any) -> float:
    """``‖θ − θ*‖₂ / max(‖θ*‖₂, tiny)``."""
    t = np.asarray(truth, dtype=float)
    return float(np.linalg.norm(np.asarray(theta) - t) / max(np.linalg.norm(t), math.ulp(1.0)))
