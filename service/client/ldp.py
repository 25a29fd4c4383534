"""SDK side of LDP studies: owners randomize locally, only reports leave the process.

``client.ldp_study(d=..., k=..., epsilon=..., ...)`` creates a study (or
``client.ldp_study(study_id=...)`` attaches to one); :meth:`Study.contribute` runs the
study's ε-LDP randomizer on the owner's ``(x, y)`` *in this process* and posts the
reports. The randomizers are ``solvers/ldp/randomizers.py``, loaded as a standalone
NumPy-only module (the SDK imports neither SciPy, Numba nor the ``solvers`` package).

Examples
--------
>>> from service.client import Client
>>> c = Client("http://127.0.0.1:8000")
>>> study = c.ldp_study(d=10, k=2, epsilon=4.0, protocol="nldp", expected_owners=10**5)
>>> study.contribute(X_batch, y_batch)           # randomized here, then sent
>>> res = study.estimate().result()               # a job on the server
>>> res.outputs["theta"], res.stats["epsilon"]
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ._arrays import encode
from .errors import ApiError

API = "/api/v1/ldp"
_MODULE = "_sparsehpc_ldp_randomizers"


def randomizers() -> ModuleType:
    """``solvers/ldp/randomizers.py`` loaded on its own (NumPy + standard library)."""
    mod = sys.modules.get(_MODULE)
    if mod is not None:
        return mod
    spec = importlib.util.find_spec("solvers")  # a top-level name: nothing is imported
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        path = Path(loc) / "ldp" / "randomizers.py"
        if path.is_file():
            mspec = importlib.util.spec_from_file_location(_MODULE, path)
            mod = importlib.util.module_from_spec(mspec)
            sys.modules[_MODULE] = mod
            mspec.loader.exec_module(mod)  # type: ignore[union-attr]
            return mod
    raise ImportError("the LDP randomizers ship with sparsehpc (solvers/ldp/randomizers.py)")


class StaleRoundError(ApiError):
    """The interactive round closed before these reports arrived; they were discarded.

    Each owner speaks once: the owners of this batch must not answer again.
    """


class Study:
    """Handle on an LDP study of a sparsehpc server.

    Attributes
    ----------
    id : str
    config : dict
        The study's complete public configuration (d, k, ε, δ, protocol, mechanism,
        bounds r, τx, τy, split, rounds, ...).
    """

    def __init__(self, client: Any, info: dict[str, Any]) -> None:
        self.client = client
        self._info = info
        self.id: str = info["id"]
        self.config: dict[str, Any] = info["config"]

    def __repr__(self) -> str:
        return (
            f"Study({self.id!r}, protocol={self.protocol!r}, epsilon={self.config['epsilon']}, "
            f"n_reports={self._info.get('n_reports')})"
        )

    # -- information ----------------------------------------------------------------------
    @property
    def protocol(self) -> str:
        return self.config["protocol"]

    @property
    def d(self) -> int:
        return int(self.config["d"])

    def info(self) -> dict[str, Any]:
        """The study's current description (status, counts, layout, round)."""
        self._info = self.client._request("GET", f"{API}/studies/{self.id}").json()
        return self._info

    def iterate(self) -> dict[str, Any]:
        """Interactive studies: ``{"round", "theta" (ndarray), "done", ...}``."""
        out = self.client._request("GET", f"{API}/studies/{self.id}/iterate").json()
        out["theta"] = np.asarray(out["theta"], dtype=np.float64)
        return out

    def _bounds(self) -> Any:
        c = self.config
        return randomizers().Bounds(r=c["r"], tau_x=c["tau_x"], tau_y=c["tau_y"])

    # -- the owner's side -------------------------------------------------------------------
    def randomize(
        self,
        x: Any,
        y: Any,
        *,
        rng: np.random.Generator | None = None,
        theta: Any = None,
        workers: int | None = None,
    ) -> np.ndarray:
        """Run the study's ε-LDP randomizer on ``(x, y)`` locally (nothing is sent).

        ``x`` is one owner's ``(d,)`` vector or ``(m, d)`` for m owners; ``theta`` is the
        interactive round's iterate. ``rng`` defaults to a fresh, OS-seeded generator.
        ``workers`` randomizes a large batch on that many threads (independently seeded
        chunks, see :func:`solvers.ldp.randomizers.parallel_rows`).
        """
        rz = randomizers()
        c = self.config
        rng = rng if rng is not None else np.random.default_rng()
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != self.d:
            raise ValueError(f"x must have {self.d} features (the study's d), got {x.shape}")
        kw = {
            "epsilon": c["epsilon"],
            "bounds": self._bounds(),
            "rng": rng,
            "mechanism": c["mechanism"],
            "delta": c.get("delta"),
            "workers": workers,
        }
        if self.protocol == "nldp":
            return rz.randomize_nldp(x, y, split=c["split"], **kw)
        if self.protocol == "nldp_public":
            return rz.randomize_public(x, y, **kw)
        if theta is None:
            raise ValueError("interactive reports need the round's iterate theta")
        return rz.randomize_gradient(x, y, theta, **kw)

    def contribute(
        self,
        x: Any,
        y: Any,
        *,
        rng: np.random.Generator | None = None,
        batch_id: str | None = None,
        workers: int | None = None,
    ) -> dict[str, Any]:
        """Randomize ``(x, y)`` here and post the reports (one per owner).

        ``workers``: threads for the local randomizer (see :meth:`randomize`).

        For an interactive study the open round's iterate is fetched first and the
        reports are tagged with that round.

        Raises
        ------
        StaleRoundError
            The round closed meanwhile; the reports were discarded (do not resend).
        ValidationError
            The study is closed, finished, or the reports do not match its schema.
        """
        round_ = None
        theta = None
        if self.protocol == "interactive":
            it = self.iterate()
            round_, theta = it["round"], it["theta"]
        reports = self.randomize(x, y, rng=rng, theta=theta, workers=workers)
        return self.post_reports(reports, round=round_, batch_id=batch_id)

    def post_reports(
        self,
        reports: Any,
        *,
        round: int | None = None,
        batch_id: str | None = None,  # noqa: A002
    ) -> dict[str, Any]:
        """Post already randomized reports (a retried ``batch_id`` is counted once)."""
        body = {
            "reports": encode(np.asarray(reports, dtype=np.float64), b64=True),
            "round": round,
            "batch_id": batch_id or uuid.uuid4().hex,
        }
        r = self.client._http.request("POST", f"{API}/studies/{self.id}/reports", json=body)
        if r.status_code == 409:
            err = r.json().get("error") or {}
            if err.get("type") == "StaleRoundError":
                raise StaleRoundError(409, r.json().get("detail", ""), err)
        if r.status_code >= 400:
            self.client._raise(r)
        return r.json()

    # -- the server's side ------------------------------------------------------------------
    def close(self) -> dict[str, Any]:
        """Close the study: no more reports are accepted."""
        self._info = self.client._request("POST", f"{API}/studies/{self.id}/close").json()
        return self._info

    def estimate(
        self,
        *,
        public_X: Any = None,
        backend: str = "auto",
        **options: Any,  # noqa: N803
    ) -> Any:
        """Queue the estimate job; returns a :class:`service.client.Job`.

        ``options``: ``estimator`` ("plugin" | "iht"), ``threshold`` ("topk" | "soft"),
        ``lam``, ``min_eig``, ``noise_floor``, ``time_limit``. ``public_X`` is required for
        ``nldp_public`` studies (uploaded when large).
        """
        from .client import Job

        body: dict[str, Any] = {"backend": backend, **options}
        if public_X is not None:
            body["public_X"] = self.client._prepare(np.asarray(public_X, dtype=np.float64))
        r = self.client._request("POST", f"{API}/studies/{self.id}/estimate", json=body)
        return Job(self.client, r.json()["job"])


def create_study(client: Any, *, study_id: str | None = None, **config: Any) -> Study:
    """Create a study with ``config`` (see ``POST /api/v1/ldp/studies``), or attach to
    the existing ``study_id``."""
    if study_id is not None:
        if config:
            raise TypeError("give either study_id or a configuration, not both")
        return Study(client, client._request("GET", f"{API}/studies/{study_id}").json())
    r = client._request("POST", f"{API}/studies", json=config)
    return Study(client, r.json())
