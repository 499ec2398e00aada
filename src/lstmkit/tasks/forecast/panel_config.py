"""PanelConfig: the settings of a global (many-series) forecasting run, checked once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["DEFAULT_LEVELS", "PanelConfig"]

# Quantile levels forecast by default: the 80% and 95% intervals' ends, the quartiles and
# the median (the point forecast).
DEFAULT_LEVELS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975)


@dataclass
class PanelConfig:
    """Settings of a global model over a panel; every default is derived from the data.

    Args:
        model: "quantile" (direct multi-horizon quantiles, pinball loss) or "deepar"
            (autoregressive, a likelihood, teacher forcing, ancestral sampling).
        likelihood: the deepar head: "gaussian", "student_t" or "negative_binomial".
        levels: quantile levels, sorted, including 0.5.
        lookback: input steps; None: max(2H, 2m) capped at the longest training part.
        lookback_scales: member k reads lookback x scales[k mod len] steps (diverse members,
            as N-BEATS ensembles several lookbacks); (1.0,): every member the same. The
            default (3 members: L, 1.5L, 2L) was chosen on the held-out last horizon of
            tourism's monthly training parts: mean MASE 1.830 with 3 members of L, 1.827
            with 5, 1.815 with 5 of L, 1.5L, 2L, L, 1.5L, 1.810 with the default.
        log: model log values: True, False or "auto" (every training value positive).
        hidden_size, num_layers, dropout: the LSTM.
        embedding: width of a learned per-series embedding (0: none).
        batch_size: windows per step (series drawn uniformly, then a window in each).
        lr: Adam learning rate.
        loss_weight: "mase": the direct model's pinball loss weighted per series by 1 / its
            in-sample seasonal-naive error (the MASE scale); "none": unweighted (the
            default: on tourism monthly's held-out window "mase" scored 1.839, "none" 1.830).
        max_steps: most optimizer steps per model; None: from the number of windows.
        steps_per_epoch: steps between validations (the early-stopping clock).
        patience: validations without improvement before stopping.
        ensemble: models per group from different seeds; their quantiles are averaged.
        refit: after early stopping on the held-out last horizon, train again on the whole
            training part for the chosen number of steps.
        calibrate: rescale each central interval by its conformal factor on the held-out
            last horizon of the training parts (scaled CQR, see `calibration`), per group.
        max_minutes: training time budget per group (all members and refits; a member's
            share is proportional to its lookback), or None.
        samples: deepar sample paths per series.
        seed: seed of the first member.
        progress: show progress bars.
    """

    model: str = "quantile"
    likelihood: str = "student_t"
    levels: tuple[float, ...] = field(default=DEFAULT_LEVELS)
    lookback: int | None = None
    lookback_scales: tuple[float, ...] = (1.0, 1.5, 2.0)
    log: bool | str = "auto"
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    embedding: int = 0
    batch_size: int = 64
    lr: float = 3e-3
    loss_weight: str = "none"
    max_steps: int | None = None
    steps_per_epoch: int = 50
    patience: int = 8
    ensemble: int = 3
    refit: bool = True
    calibrate: bool = True
    max_minutes: float | None = None
    samples: int = 200
    seed: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        self.levels = tuple(float(v) for v in self.levels)
        self.lookback_scales = tuple(float(v) for v in self.lookback_scales)
        if not self.lookback_scales or any(not v >= 1 for v in self.lookback_scales):
            raise ValueError(f"lookback_scales must be >= 1, got {list(self.lookback_scales)}")
        if self.model not in ("quantile", "deepar"):
            raise ValueError(f"model must be 'quantile' or 'deepar', got {self.model!r}")
        if self.likelihood not in ("gaussian", "student_t", "negative_binomial"):
            raise ValueError(
                "likelihood must be 'gaussian', 'student_t' or 'negative_binomial', got "
                f"{self.likelihood!r}"
            )
        if self.loss_weight not in ("mase", "none"):
            raise ValueError(f"loss_weight must be 'mase' or 'none', got {self.loss_weight!r}")
        lv = self.levels
        if not lv or any(not 0 < v < 1 for v in lv) or list(lv) != sorted(set(lv)):
            raise ValueError(f"levels must be distinct, sorted, in (0, 1); got {list(lv)}")
        if 0.5 not in lv:
            raise ValueError("levels must include 0.5 (the median is the point forecast)")
        for name in ("hidden_size", "num_layers", "batch_size", "steps_per_epoch",
                     "patience", "ensemble", "samples"):  # fmt: skip
            _check_int(name, getattr(self, name), 1)
        _check_int("embedding", self.embedding, 0)
        _check_int("seed", self.seed, 0)
        for name in ("lookback", "max_steps"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 1)
        if self.log not in (True, False, "auto"):
            raise ValueError(f"log must be True, False or 'auto', got {self.log!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be > 0, got {self.max_minutes!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict, saved with the model."""
        out = dataclasses.asdict(self)
        out["levels"] = list(self.levels)
        out["lookback_scales"] = list(self.lookback_scales)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PanelConfig:
        """Rebuild from :meth:`to_dict`, rejecting unknown fields."""
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown PanelConfig fields {unknown}")
        return cls(**data)


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
