"""One whole KroSBL EM iteration as a single Numba kernel (CPU, small problems).

At sizes such as two 20 × 40 factors (M = 400, N = 1600), and after pruning at any
size, an EM iteration is a few dozen tiny LAPACK/BLAS calls and vector passes; run
from Python through NumPy its time is the interpreter's and NumPy's per-call overhead
(~0.3 ms), not arithmetic. :func:`em_iteration` does the E-step
(eigendecompositions of the K factors, three mode-product chains, the fused
whitening and moment passes), the M-step (SVD or AM), the noise update and the
stopping quantity in one compiled call. It computes exactly what
:func:`solvers.krosbl.solver.estep`, :func:`~solvers.krosbl.solver.mstep_svd` and
:func:`~solvers.krosbl.solver.mstep_am` compute (same operations in the same order, so
the two paths agree to rounding; tested). :func:`em_loop` runs the whole loop — the
iterations, noise updates, stopping test, pruning (:func:`_compress`) and the final
E-step — in one call when no progress callback has to be served, which also removes
the 15–20 µs of Python per iteration of the loop in ``solver._krosbl_loop``.

The K factors travel as flat buffers with offsets (any K, one compiled specialisation
per dtype): ``Hbuf`` holds ``H_k`` (M_k × n_k, C order), ``g`` holds the γ_k.

References
----------
.. [1] Y. He, G. Joseph, "Bayesian Algorithms for Kronecker-structured Sparse Vector
   Recovery With Application to IRS-MIMO Channel Estimation", IEEE Trans. Signal
   Process., 2024, arXiv:2307.14719.
"""

from __future__ import annotations

import math

import numpy as np

from solvers._config import njit

from ._symeig import eigh_pair, eigh_small

#: relative floor of every factor hyperparameter (as ``solver.GAMMA_FLOOR``)
GAMMA_FLOOR = 1e-30


@njit
def _kmv(buf, offs, rows, cols, X, T):  # noqa: ANN001, ANN202, N803
    """``kron(A_1..A_K) @ X`` for factors stored flat (``A_k`` = rows[k] × cols[k])."""
    K = rows.size  # noqa: N806
    cur = np.ascontiguousarray(X.T).ravel()
    for k in range(K - 1, -1, -1):
        r = rows[k]
        d = cols[k]
        A = buf[offs[k] : offs[k] + r * d].reshape(r, d)  # noqa: N806
        B = cur.reshape(cur.size // d, d)  # noqa: N806
        cur = np.dot(A, B.T).ravel()
    return cur.reshape(cur.size // T, T)


@njit
def _kron_flat(g, offs, ns):  # noqa: ANN001, ANN202
    out = g[offs[0] : offs[0] + ns[0]].copy()
    for k in range(1, ns.size):
        out = np.outer(out, g[offs[k] : offs[k] + ns[k]]).ravel()
    return out


@njit
def _offsets(sizes):  # noqa: ANN001, ANN202
    out = np.zeros(sizes.size + 1, dtype=np.int64)
    for k in range(sizes.size):
        out[k + 1] = out[k] + sizes[k]
    return out


@njit
def _nrm(x):  # noqa: ANN001, ANN202
    a = 0.0
    for i in range(x.size):
        a += x[i] * x[i]
    return math.sqrt(a)


@njit
def _factor_gram(Hk, gk, HkH):  # noqa: ANN001, ANN202, N803
    """``H_k diag(γ_k) H_kᴴ`` (M_k × M_k, Hermitian to rounding)."""
    mk, nk = Hk.shape
    Hg = np.empty((mk, nk), dtype=Hk.dtype)  # noqa: N806
    for i in range(mk):
        for j in range(nk):
            Hg[i, j] = Hk[i, j] * gk[j]
    C = np.dot(Hg, HkH)  # noqa: N806
    return (C + C.conj().T) * 0.5


@njit
def _factor_system(Hk, gk, HkH):  # noqa: ANN001, ANN202, N803
    """What diagonalises ``H_k diag(γ_k) H_kᴴ = U diag(p) Uᴴ`` on its range:
    ``(S, Q1t)`` with ``S = W diag(p) Wᴴ`` Hermitian and ``U = Q1tᵀ W`` (``HkH`` =
    ``H_kᴴ``, contiguous).

    ``M_k ≤ n_k``: ``S`` is the M_k × M_k matrix itself (``Q1t`` empty: ``U = W``).
    ``n_k < M_k`` (a pruned factor): the matrix ``C = B Bᴴ``, ``B = H_k Γ_k^½``, has
    rank ≤ n_k and only its range is used — a Householder QR ``B = Q_1 R`` (Q_1:
    M_k × n_k, orthonormal columns, ``Q1t = Q_1ᵀ``) and ``S = R Rᴴ`` (n_k × n_k), so
    that ``U = Q_1 W`` (M_k × n_k) in ``O(M_k n_k²)``; the orthogonal complement
    (eigenvalue 0) is left implicit (see :func:`estep_fused`).
    """
    mk, nk = Hk.shape
    if nk >= mk:
        return _factor_gram(Hk, gk, HkH), np.empty((0, mk), dtype=Hk.dtype)
    # Bt = (H_k Γ_k^½)ᵀ: the columns of B as contiguous rows
    Bt = np.empty((nk, mk), dtype=Hk.dtype)  # noqa: N806
    for j in range(nk):
        sg = math.sqrt(gk[j])
        for i in range(mk):
            Bt[j, i] = np.conj(HkH[j, i]) * sg
    Vt = np.zeros((nk, mk), dtype=Hk.dtype)  # noqa: N806 - unit Householder vectors
    for j in range(nk):
        nrm = 0.0
        for i in range(j, mk):
            nrm += Bt[j, i].real * Bt[j, i].real + Bt[j, i].imag * Bt[j, i].imag
        nrm = math.sqrt(nrm)
        if nrm == 0.0:
            continue
        a0 = Bt[j, j]
        mag = abs(a0)
        ph = a0 / mag if mag > 0 else a0 * 0.0 + 1.0
        alpha = -ph * nrm
        for i in range(j, mk):
            Vt[j, i] = Bt[j, i]
        Vt[j, j] = Vt[j, j] - alpha
        vn = 0.0
        for i in range(j, mk):
            vn += Vt[j, i].real * Vt[j, i].real + Vt[j, i].imag * Vt[j, i].imag
        vn = math.sqrt(vn)
        if vn == 0.0:
            continue
        for i in range(j, mk):
            Vt[j, i] = Vt[j, i] / vn
        for c in range(j, nk):  # column c of B ← (I − 2 v vᴴ) column c
            dot = Bt[0, 0] * 0.0
            for i in range(j, mk):
                dot += np.conj(Vt[j, i]) * Bt[c, i]
            dot = 2.0 * dot
            for i in range(j, mk):
                Bt[c, i] = Bt[c, i] - dot * Vt[j, i]
    # Q_1ᵀ (n_k × M_k, rows contiguous) = first n_k columns of H_0 H_1 … H_{n-1}:
    # Q_1 ← H_j Q_1 backwards, column c of Q_1 = row c of Q1t
    Q1t = np.zeros((nk, mk), dtype=Hk.dtype)  # noqa: N806
    for c in range(nk):
        Q1t[c, c] = 1.0
    for j in range(nk - 1, -1, -1):
        for c in range(j, nk):  # H_j acts on rows j.. of Q_1; columns < j are e_c there
            dot = Bt[0, 0] * 0.0
            for i in range(j, mk):
                dot += np.conj(Vt[j, i]) * Q1t[c, i]
            dot = 2.0 * dot
            for i in range(j, mk):
                Q1t[c, i] = Q1t[c, i] - dot * Vt[j, i]
    R = np.zeros((nk, nk), dtype=Hk.dtype)  # noqa: N806 - R[i, c] = B[i, c], i <= c
    for c in range(nk):
        for i in range(c + 1):
            R[i, c] = Bt[c, i]
    G = np.dot(R, np.ascontiguousarray(R.conj().T))  # noqa: N806
    return (G + G.conj().T) * 0.5, Q1t


@njit
def _finish_factor(
    k, p, W, Q1t, Hbuf, hoff, Ms, ns, eps, pall, poff, Phi, Phi2, foff, U_all, Uh, uoff
):  # noqa: ANN001, ANN202, N803
    """``U_k = Q1tᵀ W`` (or ``W``) and :func:`_store_factor`."""
    o = hoff[k]
    HkH = np.ascontiguousarray(Hbuf[o : o + Ms[k] * ns[k]].reshape(Ms[k], ns[k]).conj().T)  # noqa: N806
    U = W if Q1t.shape[0] == 0 else np.dot(np.ascontiguousarray(Q1t.T), W)  # noqa: N806
    _store_factor(k, p, U, HkH, eps, pall, poff, Phi, Phi2, foff, U_all, Uh, uoff)


@njit
def _store_factor(k, p, U, HkH, eps, pall, poff, Phi, Phi2, foff, U_all, Uh, uoff):  # noqa: ANN001, ANN202, N803
    """Factor k's eigenpairs into the E-step's buffers: the numerical null space
    (``p ≤ 10 M_k ε max p``) zeroed in ``p`` and in ``Φ_k = H_kᴴ U_k`` (there
    ``Γ_k^½ H_kᴴ u = 0`` exactly, so that column of ``Φ_k`` is rounding that ``1/σ²``
    would amplify), ``|Φ_k|²``, ``U_k`` and ``U_kᴴ``."""
    mk = U.shape[0]
    rk = U.shape[1]
    nk = HkH.shape[0]
    thr = max(p[rk - 1], 0.0) * 10.0 * mk * eps
    PhiK = np.dot(HkH, U)  # noqa: N806 - (n_k, r_k), C order = Φ_k's layout in Phi
    for j in range(rk):
        if not p[j] > thr:
            p[j] = 0.0
            for i in range(nk):
                PhiK[i, j] = 0.0
        pall[poff[k] + j] = p[j]
    flat = PhiK.ravel()
    o = foff[k]
    for i in range(flat.size):
        v = flat[i]
        Phi[o + i] = v
        Phi2[o + i] = v.real * v.real + v.imag * v.imag
    U_all[uoff[k] : uoff[k + 1]] = U.ravel()
    Uh[uoff[k] : uoff[k + 1]] = np.ascontiguousarray(U.conj().T).ravel()


@njit
def _logdet_shifted(p, sigma2):  # noqa: ANN001, ANN202
    """``Σ_i log(σ² + p_i)`` (``p ≥ 0``) as ``M log σ² + log Π (1 + p_i/σ²)``: the
    product of factors ≥ 1 is taken in runs and its logarithm added before it could
    overflow — one ``log`` per run instead of one per term."""
    inv = 1.0 / sigma2
    acc = p.size * math.log(sigma2)
    prod = 1.0
    for i in range(p.size):
        f = 1.0 + p[i] * inv
        if prod > 1e150 or f > 1e150:
            acc += math.log(prod)
            prod = f
        else:
            prod *= f
    return acc + math.log(prod)


@njit
def estep_fused(Hbuf, Ms, ns, g, sigma2, Y, eps, scale, newton):  # noqa: ANN001, ANN201, N803
    """The structured E-step (see ``solver.estep``).

    Returns ``(mu, lam, logdet, quad, quad2, dof, alpha)`` with ``mu`` (n × T) the
    posterior mean and ``lam`` the second moments on the active index set. ``scale``:
    first the exact line search along the global scale of γ (``solver._best_scale``);
    the E-step is then at ``alpha · γ``.
    """
    K = Ms.size  # noqa: N806
    M, T = Y.shape  # noqa: N806
    hoff = _offsets(Ms * ns)
    goff = _offsets(ns)
    # r_k: the columns of U_k (M_k, or n_k for a pruned factor: its range only)
    rs = np.minimum(Ms, ns)
    uoff = _offsets(Ms * rs)
    foff = _offsets(ns * rs)
    poff = _offsets(rs)
    U_all = np.empty(uoff[K], dtype=Hbuf.dtype)  # noqa: N806 - U_k (M_k × r_k)
    Uh = np.empty(uoff[K], dtype=Hbuf.dtype)  # noqa: N806 - U_kᴴ (r_k × M_k)
    Phi = np.empty(foff[K], dtype=Hbuf.dtype)  # noqa: N806 - Φ_k = H_kᴴ U_k (n_k × r_k)
    Phi2 = np.empty(foff[K], dtype=g.dtype)  # noqa: N806
    pall = np.empty(poff[K], dtype=g.dtype)
    # the factors' eigenproblems are solved two at a time (their QL iterations
    # overlap, _symeig.eigh_pair); the same eigenpairs as one at a time
    pend = -1
    Sp = np.empty((0, 0), dtype=Hbuf.dtype)  # noqa: N806
    Qp = np.empty((0, 0), dtype=Hbuf.dtype)  # noqa: N806
    for k in range(K):
        mk = Ms[k]
        nk = ns[k]
        Hk = Hbuf[hoff[k] : hoff[k + 1]].reshape(mk, nk)  # noqa: N806
        S, Q1t = _factor_system(Hk, g[goff[k] : goff[k + 1]], np.ascontiguousarray(Hk.conj().T))  # noqa: N806
        if pend < 0:
            pend = k
            Sp, Qp = S, Q1t  # noqa: N806
            continue
        p1, W1, p2, W2 = eigh_pair(Sp, S)  # noqa: N806
        _finish_factor(
            pend, p1, W1, Qp, Hbuf, hoff, Ms, ns, eps, pall, poff, Phi, Phi2, foff, U_all, Uh, uoff
        )
        _finish_factor(
            k, p2, W2, Q1t, Hbuf, hoff, Ms, ns, eps, pall, poff, Phi, Phi2, foff, U_all, Uh, uoff
        )
        pend = -1
    if pend >= 0:
        p, W = eigh_small(Sp)  # noqa: N806
        _finish_factor(
            pend, p, W, Qp, Hbuf, hoff, Ms, ns, eps, pall, poff, Phi, Phi2, foff, U_all, Uh, uoff
        )
    # (⊗U_k)ᴴ y on the range R = ⊗U_k (r = Π r_k columns); the orthogonal complement
    # (eigenvalue 0: C⁻¹ = 1/σ² there, and H_kᴴ annihilates it) enters the sums only
    # through ‖(I − R Rᴴ) y‖², taken from the explicit residual (no cancellation)
    Yt = _kmv(Uh, uoff, rs, Ms, Y, T)  # noqa: N806
    r = Yt.shape[0]
    perp = 0.0
    if r < M:
        Yr = _kmv(U_all, uoff, Ms, rs, Yt, T)  # noqa: N806
        for i in range(M):
            for j in range(T):
                v = Y[i, j] - Yr[i, j]
                perp += v.real * v.real + v.imag * v.imag
    p = pall[poff[0] : poff[1]].copy()
    for k in range(1, K):
        p = np.outer(p, pall[poff[k] : poff[k + 1]]).ravel()
    alpha = 1.0
    if scale:
        # only the nonzero eigenvalues depend on the scale (the terms of p = 0 are
        # constant and drop out of the search and of its cost comparison)
        nz = 0
        for i in range(r):
            if p[i] != 0.0:
                nz += 1
        pz = np.empty(nz, dtype=g.dtype)
        a = np.empty(nz, dtype=g.dtype)
        c = 0
        for i in range(r):
            if p[i] != 0.0:
                acc = 0.0
                for j in range(T):
                    v = Yt[i, j]
                    acc += v.real * v.real + v.imag * v.imag
                pz[c] = p[i]
                a[c] = acc / T
                c += 1
        alpha = best_scale(pz, a, sigma2, newton)
        p = p * alpha
    d = np.empty(r, dtype=g.dtype)
    quad = 0.0
    quad2 = 0.0
    dof = 0.0
    for i in range(r):
        ci = sigma2 + p[i]
        di = 1.0 / ci
        d[i] = di
        a = 0.0
        for j in range(T):
            v = Yt[i, j]
            a += v.real * v.real + v.imag * v.imag
            Yt[i, j] = v * di
        quad += di * a
        quad2 += di * di * a
        dof += p[i] * di
    logdet = _logdet_shifted(p, sigma2)
    if r < M:
        inv = 1.0 / sigma2
        logdet += (M - r) * math.log(sigma2)
        quad += perp * inv
        quad2 += perp * inv * inv
    V = _kmv(Phi, foff, ns, rs, Yt, T)  # noqa: N806
    s = _kmv(Phi2, foff, ns, rs, d.reshape(r, 1), 1)
    gamma = _kron_flat(g, goff, ns) * alpha
    n = gamma.size
    lam = np.empty(n, dtype=g.dtype)
    inv_t = 1.0 / T
    for i in range(n):
        gi = gamma[i]
        sig = gi - gi * gi * s[i, 0]
        if sig < 0.0:
            sig = 0.0
        a = 0.0
        for j in range(T):
            v = V[i, j] * gi
            V[i, j] = v
            a += v.real * v.real + v.imag * v.imag
        lam[i] = sig + a * inv_t
    return V, lam, logdet, quad, quad2, dof, alpha


#: reassociation (vectorised sums) and fused multiply-adds only, as in ``_symeig``
_FAST = {"reassoc", "contract"}


@njit(fastmath=_FAST, error_model="numpy")
def _scale_gain(p, a, sigma2, t):  # noqa: ANN001, ANN202
    """``L(e^t γ) − L(γ)`` along the global scale (as ``solver._scale_gain``): the sum of
    ``log(c_1/c_0) + a (1/c_1 − 1/c_0)`` with ``c_0 = σ² + p``, ``c_1 = σ² + e^t p``.

    The logarithms are taken of products of 8 ratios (each ratio lies between 1 and
    ``e^t``, ``|t| ≤ 2 · SCALE_NEWTON``: no overflow), one ``log`` per 8 terms."""
    e = math.exp(t)
    n = p.size
    lin = 0.0
    for i in range(n):
        c0 = sigma2 + p[i]
        c1 = sigma2 + e * p[i]
        lin += a[i] * (c0 - c1) / (c0 * c1)
    logs = 0.0
    i = 0
    while i < n:
        prod = 1.0
        for j in range(i, min(i + 8, n)):
            prod *= (sigma2 + e * p[j]) / (sigma2 + p[j])
        logs += math.log(prod)
        i += 8
    return logs + lin


@njit(fastmath=_FAST, error_model="numpy")
def best_scale(p, a, sigma2, newton):  # noqa: ANN001, ANN201
    """As ``solver._best_scale``: Newton on the derivative in ``t = log α`` (steps
    clipped to ±2), kept only if it lowers the cost (else ``α = 1``)."""
    t = 0.0
    n = p.size
    for _ in range(newton):
        e = math.exp(t)
        g1 = 0.0
        h = 0.0
        for i in range(n):
            ep = e * p[i]
            r = 1.0 / (sigma2 + ep)
            q = ep * r
            aq = a[i] * q * r
            g1 += q - aq
            h += q * (1.0 - q) - aq * (1.0 - 2.0 * q)
        step = -g1 / h if h > 0 else (-2.0 if g1 > 0 else 2.0)
        step = min(max(step, -2.0), 2.0)
        t += step
        if abs(step) < 1e-8:
            break
    if t != 0.0 and not _scale_gain(p, a, sigma2, t) < 0.0:
        return 1.0
    return math.exp(t)


@njit
def _floor_into(out, o, vec):  # noqa: ANN001, ANN202
    top = vec.max()
    for i in range(vec.size):
        if top > 0:
            out[o + i] = max(vec[i], GAMMA_FLOOR * top)
        else:
            out[o + i] = 1e-300


@njit
def _normalise(g, goff, K):  # noqa: ANN001, ANN202, N803
    scale = 1.0
    for k in range(K - 1):
        seg = g[goff[k] : goff[k + 1]]
        nk = _nrm(seg)
        if nk > 0:
            for i in range(seg.size):
                seg[i] = seg[i] / nk
            scale *= nk
    seg = g[goff[K - 1] : goff[K]]
    for i in range(seg.size):
        seg[i] = seg[i] * scale


@njit
def _top_pair(mat, u0, tol):  # noqa: ANN001, ANN202
    """Leading singular triple of a non-negative matrix (as ``solver._top_pair``)."""
    r, c = mat.shape
    u = np.abs(u0)
    u = u / max(_nrm(u), 1e-300)
    matT = np.ascontiguousarray(mat.T)  # noqa: N806
    for _ in range(200):
        v = np.dot(matT, u)
        v /= max(_nrm(v), 1e-300)
        w = np.dot(mat, v)
        s = _nrm(w)
        w /= max(s, 1e-300)
        dd = 0.0
        for i in range(r):
            e = w[i] - u[i]
            dd += e * e
        u = w
        if math.sqrt(dd) <= tol:
            v = np.dot(matT, u)
            return np.abs(u), s, np.abs(v / max(_nrm(v), 1e-300))
    if r <= c:
        _, Q = np.linalg.eigh(np.dot(mat, matT))  # noqa: N806
        u0 = np.abs(Q[:, r - 1])
        v = np.dot(matT, u0)
        v = v / max(_nrm(v), 1e-300)
        u = np.dot(mat, v)
        s = _nrm(u)
        u = u / max(s, 1e-300)
    else:
        _, Q = np.linalg.eigh(np.dot(matT, mat))  # noqa: N806
        v0 = np.abs(Q[:, c - 1])
        u = np.dot(mat, v0)
        u = u / max(_nrm(u), 1e-300)
        v = np.dot(matT, u)
        s = _nrm(v)
        v = v / max(s, 1e-300)
    return np.abs(u), s, np.abs(v)


@njit
def mstep_svd_fused(lam, g, ns, tol):  # noqa: ANN001, ANN201
    """SVD M-step (as ``solver.mstep_svd``, warm-started at ``g``); returns new γ flat."""
    K = ns.size  # noqa: N806
    goff = _offsets(ns)
    out = np.empty(goff[K], dtype=g.dtype)
    R = lam.copy()  # noqa: N806
    for k in range(K - 1):
        r = ns[k]
        mat = R.reshape(r, R.size // r)
        u, s, v = _top_pair(mat, g[goff[k] : goff[k + 1]].copy(), tol)
        _floor_into(out, goff[k], u)
        R = s * v  # noqa: N806
    _floor_into(out, goff[K - 1], R)
    _normalise(out, goff, K)
    return out


@njit(fastmath=_FAST, error_model="numpy")
def _contract_mode(lam, rec, goff, ns, k, wl, wr, out):  # noqa: ANN001, ANN202
    """``out[m] = Σ_{l, r} Λ[l, m, r] wl[l] wr[r]`` with Λ viewed as (left, n_k, right)
    and ``wl = ⊗_{j<k} rec_j``, ``wr = ⊗_{j>k} rec_j`` (``rec`` flat at ``goff``;
    ``wl``, ``wr`` are work buffers of length ≥ n). No allocation."""
    K = ns.size  # noqa: N806
    nk = ns[k]
    left = 1
    wl[0] = 1.0
    for j in range(k):  # wl = rec_0 ⊗ … ⊗ rec_{k-1}
        nj = ns[j]
        for a in range(left - 1, -1, -1):
            v = wl[a]
            for b in range(nj - 1, -1, -1):
                wl[a * nj + b] = v * rec[goff[j] + b]
        left *= nj
    right = 1
    wr[0] = 1.0
    for j in range(k + 1, K):
        nj = ns[j]
        for a in range(right - 1, -1, -1):
            v = wr[a]
            for b in range(nj - 1, -1, -1):
                wr[a * nj + b] = v * rec[goff[j] + b]
        right *= nj
    for m in range(nk):
        out[m] = 0.0
    if right == 1:  # last factor: rows of Λ (left × n_k) scaled and added
        for la in range(left):
            w = wl[la]
            base = la * nk
            for m in range(nk):
                out[m] += w * lam[base + m]
        return
    for la in range(left):
        w = wl[la]
        for m in range(nk):
            base = (la * nk + m) * right
            acc = 0.0
            for r in range(right):
                acc += lam[base + r] * wr[r]
            out[m] += w * acc


@njit(fastmath=_FAST, error_model="numpy")
def mstep_am_fused(lam, g, ns, sweeps, inner_tol):  # noqa: ANN001, ANN201
    """AM M-step (as ``solver.mstep_am`` without coupling); returns new γ flat.

    Factor k's closed form is ``solver.mode_contract``: Λ viewed as (left, n_k, right)
    contracted with ``⊗_{j<k} 1/γ_j`` on the left and ``⊗_{j>k} 1/γ_j`` on the right
    (:func:`_contract_mode`, one pass over Λ per factor and sweep, no allocation).
    """
    K = ns.size  # noqa: N806
    goff = _offsets(ns)
    gs = g.copy()
    n = lam.size
    old = np.empty_like(gs)
    rec = np.empty_like(gs)
    wl = np.empty(n)
    wr = np.empty(n)
    cur = np.empty(ns.max())
    for i in range(gs.size):
        rec[i] = 1.0 / gs[i]
    for _ in range(sweeps):
        old[:] = gs
        for k in range(K):
            nk = ns[k]
            _contract_mode(lam, rec, goff, ns, k, wl, wr, cur)
            inv_den = 1.0 / (n // nk)
            o = goff[k]
            top = 0.0
            for i in range(nk):
                v = cur[i] * inv_den
                cur[i] = v
                if v > top:
                    top = v
            if top > 0:
                fl = GAMMA_FLOOR * top
                for i in range(nk):
                    gs[o + i] = max(cur[i], fl)
            else:
                for i in range(nk):
                    gs[o + i] = 1e-300
            if k < K - 1:  # the next factor's contraction needs it
                for i in range(nk):
                    rec[o + i] = 1.0 / gs[o + i]
        _normalise(gs, goff, K)
        for i in range(gs.size):
            rec[i] = 1.0 / gs[i]
        change = 0.0
        for k in range(K):
            num = 0.0
            den = 0.0
            for i in range(goff[k], goff[k + 1]):
                d = gs[i] - old[i]
                num += d * d
                den += old[i] * old[i]
            ch = math.sqrt(num) / max(math.sqrt(den), 1e-300)
            if ch > change:
                change = ch
        if change < inner_tol:
            break
    return gs


@njit
def _kron_rel(a, b, goff, ns):  # noqa: ANN001, ANN202
    """``‖⊗a_k − ⊗b_k‖ / ‖⊗b_k‖`` (factors flat at ``goff``) without forming the two
    Kronecker products: the same sums in the same order as ``_nrm(kron(a) − kron(b))``."""
    K = ns.size  # noqa: N806
    if K > 1:
        pa = _kron_flat(a, goff, ns[: K - 1])
        pb = _kron_flat(b, goff, ns[: K - 1])
    else:
        pa = np.ones(1, dtype=a.dtype)
        pb = np.ones(1, dtype=b.dtype)
    la = a[goff[K - 1] : goff[K]]
    lb = b[goff[K - 1] : goff[K]]
    num = 0.0
    den = 0.0
    for i in range(pa.size):
        ai = pa[i]
        bi = pb[i]
        for j in range(la.size):
            bb = bi * lb[j]
            d = ai * la[j] - bb
            num += d * d
            den += bb * bb
    return math.sqrt(num) / max(math.sqrt(den), 1e-300)


@njit
def em_iteration(  # noqa: ANN201
    Hbuf,
    Ms,
    ns,
    g,
    sigma2,
    Y,
    eps,
    am,
    sweeps,
    inner_tol,
    tol_svd,
    scale,
    newton,
    thr,  # noqa: ANN001, N803
):
    """E-step at ``g`` (after the scale search when ``scale``) then the M-step; returns
    ``(new_g, mu, logdet, quad, quad2, dof, rel, small)`` with
    ``rel = ‖⊗new − ⊗g‖ / ‖⊗g‖`` and ``small``: some ``new_k[n] < thr[k] · max new_k``
    (something to prune)."""
    mu, lam, logdet, quad, quad2, dof, alpha = estep_fused(
        Hbuf, Ms, ns, g, sigma2, Y, eps, scale, newton
    )
    goff = _offsets(ns)
    gs = g.copy()
    K = ns.size  # noqa: N806
    for i in range(goff[K - 1], goff[K]):
        gs[i] = gs[i] * alpha
    if am:
        new = mstep_am_fused(lam, gs, ns, sweeps, inner_tol)
    else:
        new = mstep_svd_fused(lam, gs, ns, tol_svd)
    rel = _kron_rel(new, g, goff, ns)
    small = False
    for k in range(K):
        seg = new[goff[k] : goff[k + 1]]
        cut = thr[k] * seg.max()
        for i in range(seg.size):
            if seg[i] < cut:
                small = True
    return new, mu, logdet, quad, quad2, dof, rel, small


@njit
def _compress(Hbuf, Ms, ns, g, idx, thr):  # noqa: ANN001, ANN202, N803
    """Drop the entries ``g_k[n] < thr[k] · max g_k`` of every factor with their columns
    of ``H_k`` and their original indices; returns ``(Hbuf, ns, g, idx, dropped)``."""
    K = ns.size  # noqa: N806
    goff = _offsets(ns)
    hoff = _offsets(Ms * ns)
    keep = np.empty(goff[K], dtype=np.bool_)
    new_ns = np.empty(K, dtype=np.int64)
    dropped = False
    for k in range(K):
        seg = g[goff[k] : goff[k + 1]]
        cut = thr[k] * seg.max()
        c = 0
        for i in range(seg.size):
            kp = seg[i] >= cut
            keep[goff[k] + i] = kp
            if kp:
                c += 1
            else:
                dropped = True
        new_ns[k] = c
    if not dropped:
        return Hbuf, ns, g, idx, False
    noff = _offsets(new_ns)
    nhoff = _offsets(Ms * new_ns)
    g2 = np.empty(noff[K], dtype=g.dtype)
    idx2 = np.empty(noff[K], dtype=idx.dtype)
    h2 = np.empty(nhoff[K], dtype=Hbuf.dtype)
    for k in range(K):
        mk = Ms[k]
        nk = ns[k]
        nn = new_ns[k]
        c = 0
        for i in range(nk):
            if keep[goff[k] + i]:
                g2[noff[k] + c] = g[goff[k] + i]
                idx2[noff[k] + c] = idx[goff[k] + i]
                for r in range(mk):
                    h2[nhoff[k] + r * nn + c] = Hbuf[hoff[k] + r * nk + i]
                c += 1
    return h2, new_ns, g2, idx2, True


@njit
def em_loop(  # noqa: ANN201
    Hbuf,
    Ms,
    ns,
    g,
    sigma2,
    Y,
    eps,
    am,
    sweeps,
    inner_tol,
    tol_svd,
    scale,
    newton,
    thr,
    maxiter,
    tol,
    learn,
    floor,
    do_prune,  # noqa: ANN001, N803
):
    """The whole EM loop of ``solver._krosbl_loop`` (no callback) in one call: the same
    iterations (:func:`em_iteration`), noise updates, stopping test and pruning, then
    the final pruning and the posterior mean at the final hyperparameters.

    Returns ``(g, ns, idx, mu, sigma2, n_iter, converged, objective, residuals,
    noise)`` with ``g`` / ``idx`` the active factor entries and their original indices
    (flat, offsets from ``ns``) and ``objective`` one entry longer than ``residuals``
    (the cost at the final estimate).
    """
    M, T = Y.shape  # noqa: N806
    idx = np.empty(g.size, dtype=np.int64)
    goff = _offsets(ns)
    for k in range(ns.size):
        for i in range(ns[k]):
            idx[goff[k] + i] = i
    objective = np.empty(maxiter + 1)
    residuals = np.empty(maxiter)
    noise = np.empty(maxiter)
    converged = False
    it = 0
    for it in range(1, maxiter + 1):  # noqa: B007
        new, _, logdet, quad, quad2, dof, rel, small = em_iteration(
            Hbuf, Ms, ns, g, sigma2, Y, eps, am, sweeps, inner_tol, tol_svd, scale, newton, thr
        )
        objective[it - 1] = logdet + quad / T
        if learn:
            sigma2 = max((sigma2 * sigma2 * quad2 / T + sigma2 * dof) / M, floor)
        g = new
        residuals[it - 1] = rel
        noise[it - 1] = sigma2
        if rel < tol:
            converged = True
            break
        if do_prune and small:
            Hbuf, ns, g, idx, _ = _compress(Hbuf, Ms, ns, g, idx, thr)
    if do_prune:
        Hbuf, ns, g, idx, _ = _compress(Hbuf, Ms, ns, g, idx, thr)
    mu, _, logdet, quad, _, _, _ = estep_fused(Hbuf, Ms, ns, g, sigma2, Y, eps, False, 0)
    objective[it] = logdet + quad / T
    return (
        g,
        ns,
        idx,
        mu,
        sigma2,
        it,
        converged,
        objective[: it + 1].copy(),
        residuals[:it].copy(),
        noise[:it].copy(),
    )


@njit
def _flat_positions(idx, goff, Ns):  # noqa: ANN001, ANN202, N803
    """C-order flat positions in ``kron`` of the index sets ``idx`` (flat, offsets
    ``goff``) into factors of sizes ``Ns``; ascending when each set is."""
    flat = idx[goff[0] : goff[1]].copy()
    for k in range(1, Ns.size):
        seg = idx[goff[k] : goff[k + 1]]
        nxt = np.empty(flat.size * seg.size, dtype=np.int64)
        for a in range(flat.size):
            base = flat[a] * Ns[k]
            for b in range(seg.size):
                nxt[a * seg.size + b] = base + seg[b]
        flat = nxt
    return flat


@njit
def assemble(g, ns, idx, mu, Ns, support_tol):  # noqa: ANN001, ANN201, N803
    """The full-size result of :func:`em_loop` in one call: ``(x, gammas, gamma,
    support, fsupp, fsupp_sizes)`` — ``x`` (N × T) with ``mu`` scattered to the active
    positions, the factor hyperparameters on their full index sets (flat, zeros where
    pruned), ``gamma = kron(gammas)``, the sorted flat support (the Kronecker product of
    the per-factor supports ``γ_k ≥ support_tol · max γ_k``) and the per-factor supports
    (flat, with their sizes)."""
    K = Ns.size  # noqa: N806
    goff = _offsets(ns)
    Goff = _offsets(Ns)  # noqa: N806
    full = np.zeros(Goff[K])
    for k in range(K):
        for i in range(ns[k]):
            full[Goff[k] + idx[goff[k] + i]] = g[goff[k] + i]
    sizes = np.zeros(K, dtype=np.int64)
    fs = np.empty(Goff[K], dtype=np.int64)
    c = 0
    for k in range(K):
        top = full[Goff[k] : Goff[k + 1]].max()
        for i in range(Ns[k]):
            if full[Goff[k] + i] >= support_tol * top:
                fs[c] = i
                c += 1
                sizes[k] += 1
    fs = fs[:c].copy()
    N = 1  # noqa: N806
    for k in range(K):
        N *= Ns[k]
    x = np.zeros((N, mu.shape[1]), dtype=mu.dtype)
    pos = _flat_positions(idx, goff, Ns)
    for a in range(pos.size):
        for t in range(mu.shape[1]):
            x[pos[a], t] = mu[a, t]
    support = _flat_positions(fs, _offsets(sizes), Ns)
    gamma = _kron_flat(full, Goff, Ns)
    return x, full, gamma, support, fs, sizes
