"""Gate saturation (Karpathy, Johnson & Fei-Fei 2015, fig. 3) and summary statistics per layer.

A gate of a unit is *left-saturated* at a step when its activation is below 0.1 and
*right-saturated* when it is above 0.9. Over a recording's valid steps, each unit gets the
fraction of steps spent in each regime: the two axes of the paper's saturation scatter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstmkit.inspect.record import LayerRecord

__all__ = ["LEFT", "RIGHT", "saturation", "summary"]

LEFT, RIGHT = 0.1, 0.9  # the paper's thresholds
# A unit counts as saturated on a gate when it spends at least this share of the valid steps
# in one of the two regimes (left or right): it acts as a switch rather than a mixer there.
SATURATED_SHARE = 0.5


def saturation(record: LayerRecord, left: float = LEFT, right: float = RIGHT) -> pd.DataFrame:
    """Per unit and sigmoid gate: the fraction of valid steps below ``left`` and above ``right``.

    Args:
        record: one module's recording.
        left, right: the saturation thresholds (0.1 and 0.9 in the paper).

    Returns:
        One row per (layer, direction, gate, unit) with columns ``module, layer, direction,
        gate, unit, left, right, mean`` (fractions of steps in [0, 1] and the mean value).
    """
    if not 0 <= left < right <= 1:
        raise ValueError(f"need 0 <= left < right <= 1, got left={left}, right={right}")
    mask = record.mask()  # (B, T)
    steps = int(mask.sum())
    if steps == 0:
        raise ValueError(f"{record.name} recorded no valid step (every length is 0)")
    rows = []
    for layer, direction in record.slices():
        for gate in record.sigmoid_gates:
            values = record.gate(gate, layer, direction)[mask]  # (steps, H)
            frame = pd.DataFrame(
                {
                    "unit": np.arange(values.shape[1]),
                    "left": (values < left).mean(0),
                    "right": (values > right).mean(0),
                    "mean": values.mean(0),
                }
            )
            frame.insert(0, "gate", gate)
            frame.insert(0, "direction", direction)
            frame.insert(0, "layer", layer)
            rows.append(frame)
    if not rows:
        raise ValueError(f"{record.name} is a {record.mode} layer: it has no sigmoid gates")
    table = pd.concat(rows, ignore_index=True)
    table.insert(0, "module", record.name)
    return table


def summary(per_unit: pd.DataFrame, share: float = SATURATED_SHARE) -> pd.DataFrame:
    """Per (module, layer, direction, gate): the mean activation and the saturated units.

    Args:
        per_unit: what `saturation` returns (one or several modules concatenated).
        share: a unit is left- (right-) saturated when that fraction of its steps is at
            least ``share``; saturated when either holds.

    Returns:
        Columns ``module, layer, direction, gate, units, mean, left_saturated,
        right_saturated, saturated`` (the last three as shares of the units). The mean of
        gate f is the mean forget gate.
    """
    keys = ["module", "layer", "direction", "gate"]
    flags = per_unit.assign(
        left_saturated=per_unit["left"] >= share,
        right_saturated=per_unit["right"] >= share,
    )
    flags["saturated"] = flags["left_saturated"] | flags["right_saturated"]
    grouped = flags.groupby(keys, sort=False)
    table = grouped.agg(
        units=("unit", "size"),
        mean=("mean", "mean"),
        left_saturated=("left_saturated", "mean"),
        right_saturated=("right_saturated", "mean"),
        saturated=("saturated", "mean"),
    )
    return table.reset_index()
