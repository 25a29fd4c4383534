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

from ._symeig import eigh_small

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
def _factor_eig(Hk, gk, HkH):  # noqa: ANN001, ANN202, N803
    """``H_k diag(γ_k) H_kᴴ = U diag(p) Uᴴ`` (p ascending); ``HkH`` = ``H_kᴴ`` (contiguous).

    ``M_k ≤ n_k``: the eigendecomposition of the M_k × M_k matrix. ``n_k < M_k`` (a
    pruned factor): ``C = B Bᴴ`` with ``B = H_k Γ_k^½`` of rank ≤ n_k; a Householder
    QR ``B = Q [R; 0]`` (Q unitary, M_k × M_k) and the n_k × n_k eigendecomposition
    ``R Rᴴ = W diag(p) Wᴴ`` give ``U = [Q_1 W, Q_2]`` with eigenvalues ``[p, 0]``,
    exactly orthonormal, in ``O(M_k² n_k)`` instead of an ``O(M_k³)`` eigensolver.
    """
    mk, nk = Hk.shape
    if nk >= mk:
        Hg = np.empty((mk, nk), dtype=Hk.dtype)  # noqa: N806
        for i in range(mk):
            for j in range(nk):
                Hg[i, j] = Hk[i, j] * gk[j]
        C = np.dot(Hg, HkH)  # noqa: N806
        C = (C + C.conj().T) * 0.5  # noqa: N806
        return eigh_small(C)
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
    Q = np.zeros((mk, mk), dtype=Hk.dtype)  # noqa: N806 - Q = H_0 H_1 ... H_{n-1}
    for i in range(mk):
        Q[i, i] = 1.0
    r = np.empty(mk, dtype=Hk.dtype)
    for j in range(nk - 1, -1, -1):  # Q[j:, j:] ← H_j Q[j:, j:] (rows, contiguous)
        for c in range(j, mk):
            r[c] = 0.0
        for i in range(j, mk):
            vi = np.conj(Vt[j, i])
            for c in range(j, mk):
                r[c] += vi * Q[i, c]
        for i in range(j, mk):
            f = 2.0 * Vt[j, i]
            for c in range(j, mk):
                Q[i, c] = Q[i, c] - f * r[c]
    R = np.zeros((nk, nk), dtype=Hk.dtype)  # noqa: N806 - R[i, c] = B[i, c], i <= c
    for c in range(nk):
        for i in range(c + 1):
            R[i, c] = Bt[c, i]
    G = np.dot(R, np.ascontiguousarray(R.conj().T))  # noqa: N806
    G = (G + G.conj().T) * 0.5  # noqa: N806
    w, W = eigh_small(G)  # noqa: N806
    p = np.zeros(mk, dtype=w.dtype)
    U = np.empty((mk, mk), dtype=Hk.dtype)  # noqa: N806
    z = mk - nk
    for i in range(mk):
        for j in range(z):
            U[i, j] = Q[i, nk + j]
    Uw = np.dot(np.ascontiguousarray(Q[:, :nk]), W)  # noqa: N806
    for j in range(nk):
        p[z + j] = w[j]
        for i in range(mk):
            U[i, z + j] = Uw[i, j]
    return p, U


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
    uoff = _offsets(Ms * Ms)
    Uh = np.empty(uoff[K], dtype=Hbuf.dtype)  # noqa: N806
    Phi = np.empty(hoff[K], dtype=Hbuf.dtype)  # noqa: N806
    Phi2 = np.empty(hoff[K], dtype=g.dtype)  # noqa: N806
    pall = np.empty(uoff[K], dtype=g.dtype)
    poff = _offsets(Ms)
    for k in range(K):
        mk = Ms[k]
        nk = ns[k]
        Hk = Hbuf[hoff[k] : hoff[k + 1]].reshape(mk, nk)  # noqa: N806
        gk = g[goff[k] : goff[k + 1]]
        HkH = np.ascontiguousarray(Hk.conj().T)  # noqa: N806
        p, U = _factor_eig(Hk, gk, HkH)  # noqa: N806
        thr = max(p[mk - 1], 0.0) * 10.0 * mk * eps
        PhiK = np.dot(HkH, U)  # noqa: N806 - (n_k, M_k), C order = Φ_k's layout in Phi
        for j in range(mk):
            if not p[j] > thr:
                p[j] = 0.0
                for i in range(nk):
                    PhiK[i, j] = 0.0
            pall[poff[k] + j] = p[j]
        flat = PhiK.ravel()
        o = hoff[k]
        for i in range(flat.size):
            v = flat[i]
            Phi[o + i] = v
            Phi2[o + i] = v.real * v.real + v.imag * v.imag
        Uh[uoff[k] : uoff[k + 1]] = np.ascontiguousarray(U.conj().T).ravel()
    # (⊗U_k)ᴴ y, whitening and the four sums
    Yt = _kmv(Uh, uoff, Ms, Ms, Y, T)  # noqa: N806
    p = pall[poff[0] : poff[1]].copy()
    for k in range(1, K):
        p = np.outer(p, pall[poff[k] : poff[k + 1]]).ravel()
    alpha = 1.0
    if scale:
        # only the nonzero eigenvalues depend on the scale (the terms of p = 0 are
        # constant and drop out of the search and of its cost comparison)
        nz = 0
        for i in range(M):
            if p[i] != 0.0:
                nz += 1
        pz = np.empty(nz, dtype=g.dtype)
        a = np.empty(nz, dtype=g.dtype)
        c = 0
        for i in range(M):
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
    d = np.empty(M, dtype=g.dtype)
    logdet = 0.0
    quad = 0.0
    quad2 = 0.0
    dof = 0.0
    for i in range(M):
        ci = sigma2 + p[i]
        di = 1.0 / ci
        d[i] = di
        a = 0.0
        for j in range(T):
            v = Yt[i, j]
            a += v.real * v.real + v.imag * v.imag
            Yt[i, j] = v * di
        logdet += math.log(ci)
        quad += di * a
        quad2 += di * di * a
        dof += p[i] * di
    V = _kmv(Phi, hoff, ns, Ms, Yt, T)  # noqa: N806
    s = _kmv(Phi2, hoff, ns, Ms, d.reshape(M, 1), 1)
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


@njit
def _scale_cost(p, a, sigma2, t):  # noqa: ANN001, ANN202
    e = math.exp(t)
    f = 0.0
    for i in range(p.size):
        c = sigma2 + e * p[i]
        f += math.log(c) + a[i] / c
    return f


@njit
def best_scale(p, a, sigma2, newton):  # noqa: ANN001, ANN201
    """As ``solver._best_scale``: Newton on the derivative in ``t = log α`` (steps
    clipped to ±2), kept only if it lowers the cost (else ``α = 1``)."""
    t = 0.0
    for _ in range(newton):
        e = math.exp(t)
        g1 = 0.0
        h = 0.0
        for i in range(p.size):
            r = 1.0 / (sigma2 + e * p[i])
            q = e * p[i] * r
            aq = a[i] * q * r
            g1 += q - aq
            h += q * (1.0 - q) - aq * (1.0 - 2.0 * q)
        step = -g1 / h if h > 0 else (-2.0 if g1 > 0 else 2.0)
        step = min(max(step, -2.0), 2.0)
        t += step
        if abs(step) < 1e-8:
            break
    if t != 0.0 and not _scale_cost(p, a, sigma2, t) < _scale_cost(p, a, sigma2, 0.0):
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


@njit
def mstep_am_fused(lam, g, ns, sweeps, inner_tol):  # noqa: ANN001, ANN201
    """AM M-step (as ``solver.mstep_am`` without coupling); returns new γ flat.

    Factor k's closed form is ``solver.mode_contract``: Λ viewed as (left, n_k, right)
    contracted with ``⊗_{j<k} 1/γ_j`` on the left and ``⊗_{j>k} 1/γ_j`` on the right
    (two matrix–vector products).
    """
    K = ns.size  # noqa: N806
    goff = _offsets(ns)
    gs = g.copy()
    n = lam.size
    old = np.empty_like(gs)
    for _ in range(sweeps):
        old[:] = gs
        for k in range(K):
            nk = ns[k]
            left = 1
            for j in range(k):
                left *= ns[j]
            right = n // (left * nk)
            cur = lam
            if k > 0:
                wl = 1.0 / gs[goff[0] : goff[1]]
                for j in range(1, k):
                    wl = np.outer(wl, 1.0 / gs[goff[j] : goff[j + 1]]).ravel()
                cur = np.dot(wl, cur.reshape(left, nk * right))
            if k < K - 1:
                wr = 1.0 / gs[goff[k + 1] : goff[k + 2]]
                for j in range(k + 2, K):
                    wr = np.outer(wr, 1.0 / gs[goff[j] : goff[j + 1]]).ravel()
                cur = np.dot(cur.reshape(nk, right), wr)
            _floor_into(gs, goff[k], cur / (n // nk))
        _normalise(gs, goff, K)
        change = 0.0
        for k in range(K):
            a = gs[goff[k] : goff[k + 1]]
            b = old[goff[k] : goff[k + 1]]
            ch = _nrm(a - b) / max(_nrm(b), 1e-300)
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
