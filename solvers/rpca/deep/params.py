"""Parameters of ``"rpca_segment"`` and ``"rpcanet_train"`` (light: the SDK imports it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SegmentParams(BaseModel):
    """Parameters of solver ``"rpca_segment"`` (RPCANet++ small-object segmentation)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(
        "default",
        description="Shipped model name or a file path; the input 'model' (bytes) overrides it.",
    )
    threshold: float = Field(0.5, gt=0, lt=1, description="Probability threshold of the mask.")
    batch_size: int = Field(8, ge=1, le=1024, description="Images per network call.")


class RPCANetTrainParams(BaseModel):
    """Parameters of solver ``"rpcanet_train"`` (``sparsehpc train rpcanet ...``)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    steps: int = Field(300, ge=1, le=1_000_000, description="Adam steps.")
    batch_size: int = Field(16, ge=1, le=1024, description="Crops per step.")
    crop: int = Field(48, ge=16, le=1024, description="Training crop size (pixels).")
    lr: float = Field(2e-3, gt=0, lt=1, description="Initial learning rate (cosine decay).")
    lr_final: float = Field(5e-5, gt=0, lt=1, description="Final learning rate.")
    stages: int = Field(3, ge=1, le=12, description="Unfolded stages K (ignored with a model).")
    channels: int = Field(16, ge=4, le=128, description="Feature channels (ignored with a model).")
    pool: int = Field(
        128, ge=4, le=100_000, description="Generated scenes kept in the training pool."
    )
    scene_size: int = Field(256, ge=32, le=2048, description="Generated scene size.")
    val_every: int = Field(
        100, ge=0, le=1_000_000, description="Validate every this many steps (0: never)."
    )
    val_scenes: int = Field(8, ge=0, le=1000, description="Generated validation scenes.")
    seed: int = Field(0, description="Seed of scenes, initialisation and batches.")
    threads: int | None = Field(None, ge=1, le=1024, description="torch threads.")
