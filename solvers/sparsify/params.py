"""Parameters of the sparsifiers (imported by the SDK and the service: keep this light)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

METHODS = ("grass", "er_sampling")

#: target κ used when neither a target condition nor a target density is given
DEFAULT_TARGET_CONDITION = 100.0


class SparsifyParams(BaseModel):
    """Parameters of ``solvers.sparsify.sparsify`` / solver ``"sparsify"``."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["grass", "er_sampling"] = Field(
        "grass",
        description=(
            "grass: spanning-tree backbone + spectrally critical off-tree edges (a subset "
            "of G's edges, original weights); er_sampling: Spielman-Srivastava sampling by "
            "effective resistance (reweighted edges; a baseline)."
        ),
    )
    target_condition: float | None = Field(
        None,
        gt=1,
        description=(
            "Wanted relative condition number κ(L_G, L_H). grass adds edges until its "
            "estimate is <= this (or max_density is reached). Default 100 when "
            "target_density is not given either."
        ),
    )
    target_density: float | None = Field(
        None,
        gt=0,
        description=(
            "Edges of H per vertex (a spanning tree is (n-1)/n). grass: the edge budget "
            "(with target_condition too: stop at whichever comes first); er_sampling: the "
            "expected number of distinct sampled edges."
        ),
    )
    seed: int | None = Field(None, description="Seed of the random projections / sampling.")
    tree: Literal["auto", "mewst", "mst", "lsst"] = Field(
        "auto",
        description=(
            "grass backbone: maximum effective-weight (feGRASS), maximum-weight, or "
            "low-stretch (hierarchical ball growing) tree; auto: the one of mewst and "
            "lsst with the smaller total stretch."
        ),
    )
    rounds: int = Field(
        12,
        ge=1,
        le=1000,
        description="grass with a target density: densification rounds the budget is split into.",
    )
    step: float = Field(
        0.0125,
        gt=0,
        le=1,
        description="grass with a target condition: off-tree edges added per round, times n.",
    )
    embed_dim: int = Field(
        16,
        ge=1,
        le=256,
        description="Random projections (Laplacian solves) per round for the edge scores.",
    )
    power: int | None = Field(
        2,
        ge=0,
        le=8,
        description=(
            "grass: generalized power steps X <- L_H^+ L_G X applied to the random "
            "projections before every round's edge scores (weights the generalized "
            "eigenvectors by lambda^(2 power), targeting the top of the spectrum). None: "
            "the previous schedule (0 = pure distortion estimates in the first two thirds "
            "of the rounds, then 1)."
        ),
    )
    similarity: float = Field(
        0.25,
        gt=0,
        description=(
            "grass similarity filter: every chosen edge marks about similarity * n / "
            "(edges per round) nearest vertices of H around each endpoint; edges between "
            "marked vertices wait for a later pass (0 < similarity; larger spreads more)."
        ),
    )
    reweight: bool = Field(
        False,
        description=(
            "grass: scale down the edges around vertices that keep more than 1/reweight_cap "
            "of their weighted degree in H (weights never grow; lifts lambda_min above 1). "
            "Lowers kappa on 3-D tetrahedral meshes, raises it on 2-D meshes and circuits; "
            "the condition estimate then costs a LOBPCG run for lambda_min."
        ),
    )
    reweight_cap: float = Field(
        2.0, ge=1, le=100, description="grass reweight: the degree ratio d_G / d_H kept as is."
    )
    max_density: float = Field(
        2.0,
        gt=1,
        description="grass with only a target condition: stop at this density regardless.",
    )
    jl_dim: int = Field(
        32,
        ge=4,
        le=1024,
        description="er_sampling: random projections for the effective resistances.",
    )
    estimate_condition: bool = Field(
        True,
        description="Compute condition_estimate for the result (a few Lanczos iterations).",
    )

    @model_validator(mode="after")
    def _targets(self) -> SparsifyParams:
        if self.target_condition is None and self.target_density is None:
            self.target_condition = DEFAULT_TARGET_CONDITION
        return self


class DynamicParams(BaseModel):
    """Options of ``solvers.sparsify.DynamicSparsifier`` (and of graph sessions)."""

    model_config = ConfigDict(extra="forbid")

    target_condition: float = Field(
        DEFAULT_TARGET_CONDITION,
        gt=1,
        description="κ target of the initial GRASS sparsifier (when H is not given).",
    )
    target_density: float | None = Field(
        None, gt=0, description="Edge budget of the initial GRASS sparsifier (edges per vertex)."
    )
    distortion_threshold: float | None = Field(
        None,
        gt=0,
        description=(
            "dyGRASS K: an inserted edge joins H when no walk finds a path with "
            "w * R_path < K. Default: distortion_factor times the condition estimate of "
            "the initial sparsifier."
        ),
    )
    walkers: int = Field(
        512, ge=1, le=1024, description="Random walkers per update edge (the reference: 512)."
    )
    max_steps: int = Field(
        100, ge=1, le=10000, description="Step bound of every walk (the reference: 100)."
    )
    congestion: bool = Field(
        True,
        description=(
            "Track the congestion of H's edges (the summed distortion of the dropped edges "
            "routed through them) and drop an inserted edge only while distortion + "
            "congestion < K (a support-graph bound: κ_new <= κ_old + max congestion). "
            "False: the paper's rule (distortion < K), which drifts on dense streams."
        ),
    )
    congestion_weight: float | None = Field(
        None,
        gt=0,
        le=1,
        description=(
            "Scale of the congestion added per dropped or exchanged edge (1: the "
            "support-graph bound, which holds kappa below K + max congestion but is loose "
            "by the path lengths and over-keeps on strongly weighted graphs). Default: "
            "0.25 on strongly weighted graphs (G's 90th/10th weight percentiles more than "
            "10 apart), 1 otherwise; see docs/sparsify.md."
        ),
    )
    exchange: bool = Field(
        True,
        description=(
            "Cycle exchanges (an extension, a dynamic maximum-spanning-tree step): a new "
            "edge may replace the weakest edge f of the cycle it closes in H when f, "
            "rerouted over the rest of the cycle, is less distorted (below "
            "exchange_threshold * K), so H's edges follow G's as it changes at constant "
            "density. False: H only grows on insertions (the paper's rule)."
        ),
    )
    exchange_threshold: float = Field(
        0.6,
        gt=0,
        le=1,
        description="Largest distortion (times K) of an H edge swapped out by an exchange.",
    )
    exchange_ratio: float = Field(
        0.5,
        gt=0,
        le=1,
        description=(
            "An exchange swaps out an H edge only when its weight is below exchange_ratio "
            "times the new edge's (a clearly stronger replacement; 1: the plain maximum "
            "spanning tree rule)."
        ),
    )
    distortion_factor: float | None = Field(
        None,
        gt=0,
        le=10,
        description=(
            "K = distortion_factor * condition estimate of the initial sparsifier when "
            "distortion_threshold is not given. Default: 0.5 on strongly weighted graphs "
            "(with the exchanges it tracks a fresh static sparsifier more closely), 1 "
            "otherwise (the paper's rule of thumb, K close to kappa(H0))."
        ),
    )
    exact_detours: bool = Field(
        True,
        description=(
            "Deletions: replace a deleted H edge by the exact lowest-resistance detour in G "
            "(a Dijkstra search bounded by the best walk's path resistance, so it stays "
            "local). False: the paper's rule (the best walk path itself)."
        ),
    )
    refresh: float = Field(
        0.003,
        ge=0,
        le=0.1,
        description=(
            "Spectral refresh (an extension): after every batch, one GRASS scoring round "
            "(a sparse LU of L_H, 8 random projections, one power step) adds refresh * n of G's "
            "off-H edges with the highest scores (similarity-filtered). It catches what the "
            "local walks cannot see: weak regions of H where several dropped edges and G's "
            "old off-H edges cross. 0: purely local updates (the paper's rules)."
        ),
    )
    refresh_dim: int = Field(
        8, ge=1, le=256, description="Spectral refresh: random projections (Laplacian solves)."
    )
    refresh_power: int = Field(
        1, ge=0, le=8, description="Spectral refresh: generalized power steps of the scores."
    )
    refresh_reduce: bool = Field(
        True,
        description=(
            "Spectral refresh: eliminate H's degree-1/degree-2 vertices (leaf and series "
            "reduction, no fill) and factor only the remaining core; the same solves to "
            "rounding, 1.5-3x faster than one sparse LU of the whole L_H. False: one LU."
        ),
    )
    seed: int | None = Field(None, description="Seed of the walks (and of the initial GRASS).")
    backend: Literal["auto", "cpu", "gpu"] = Field("auto", description="Where the walks run.")
