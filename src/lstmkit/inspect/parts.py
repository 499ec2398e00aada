"""The parts of an inspection, each drawn to PNG and tabulated: gates, saturation, a text
cell and attributions. Each returns the report `Section` it fills."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lstmkit.inspect.attribution import attribute
from lstmkit.inspect.html import Section
from lstmkit.inspect.probe import Probe
from lstmkit.inspect.record import LayerRecord
from lstmkit.inspect.stats import LEFT, RIGHT, SATURATED_SHARE, saturation, summary
from lstmkit.inspect.text_cells import CellMatch, best_cell
from lstmkit.plots.attribution import plot_attribution, plot_text_activation
from lstmkit.plots.gates import plot_gate_heatmaps, plot_saturation

__all__ = ["attribution_part", "gates_part", "saturation_part", "text_cell_part"]

TRACE_UNITS = 4  # units whose c and h are drawn when --units is not given
MAX_PANELS = 4  # modules in the saturation figure at most (each a row of panels)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def _check_units(units: list[int] | None, size: int, what: str) -> None:
    bad = [u for u in units or [] if not 0 <= u < size]
    if bad:
        raise ValueError(f"--units {bad[0]} is outside {what}'s {size} units (0..{size - 1})")


def _default_units(record: LayerRecord, layer: int, direction: int, example: int) -> list[int]:
    """The units whose state varies most over the example: the ones worth a line each."""
    name = "c" if "c" in record.gates else "h"
    n = int(record.mask()[example].sum())
    spread = record.gate(name, layer, direction)[example, :n].std(0)
    return sorted(np.argsort(-spread)[:TRACE_UNITS].tolist())


def gates_part(
    records: list[LayerRecord], probe: Probe, folder: Path, example: int,
    units: list[int] | None, max_steps: int | None = None,
) -> Section:  # fmt: skip
    """A heatmap per module, layer and direction: its gates over the example's steps (the
    first ``max_steps`` of them when given)."""
    section = Section("Gate activations")
    section.paragraphs.append(
        f"Sequence {example} of {probe.source}: each gate's activation per unit (rows) and "
        "step (columns); below, the cell c and output h of "
        + (f"units {units}" if units else f"the {TRACE_UNITS} units whose cell varies most")
        + ". The backward direction is shown in the input's time order."
    )
    for record in records:
        example_here = min(example, record.batch - 1)
        n = min(int(record.mask()[example_here].sum()), max_steps or record.steps)
        shown = record.sigmoid_gates or ("h",)
        for layer, direction in record.slices():
            chosen = units or _default_units(record, layer, direction, example_here)
            for name in ("c", "h"):
                if name in record.gates:
                    _check_units(chosen, record.gates[name].shape[-1], f"{record.name} {name}")
            heat = {g: record.gate(g, layer, direction)[example_here, :n] for g in shown}
            traces = {
                g: record.gate(g, layer, direction)[example_here, :n]
                for g in ("c", "h") if g in record.gates
            }  # fmt: skip
            labels = _labels(probe, record, example_here, n)
            path = folder / f"gates-{_slug(record.label(layer, direction))}.png"
            plot_gate_heatmaps(
                heat,
                path,
                traces=traces,
                units=chosen,
                step_labels=labels,
                title=f"{record.label(layer, direction)}: sequence {example_here}",
            )
            section.images.append(path)
    return section


def _labels(probe: Probe, record: LayerRecord, example: int, n: int) -> list[str] | None:
    """The example's tokens when the record ran over the probe's own batch."""
    if probe.tokens is None or not probe.over_batch(record.name, record.batch):
        return None
    tokens = probe.tokens[example]
    return [str(t) for t in tokens[:n]] if len(tokens) >= n else None


def saturation_part(records: list[LayerRecord], folder: Path) -> tuple[Section, pd.DataFrame]:
    """The saturation scatter of every module with sigmoid gates, and the summary table."""
    section = Section("Gate saturation")
    section.paragraphs.append(
        f"Per unit, the fraction of valid steps its gate spends left-saturated (< {LEFT}) "
        f"and right-saturated (> {RIGHT}), as in Karpathy, Johnson & Fei-Fei (2015), fig. 3. "
        f"In the table a unit counts as saturated when at least {SATURATED_SHARE:.0%} of its "
        "steps lie in one regime; 'mean' of gate f is the mean forget gate."
    )
    per_unit = [saturation(r) for r in records if r.sigmoid_gates]
    if not per_unit:
        section.paragraphs.append("No recorded layer has sigmoid gates (a plain RNN).")
        return section, pd.DataFrame()
    units = pd.concat(per_unit, ignore_index=True)
    table = summary(units)
    units_csv, table_csv = folder / "saturation_units.csv", folder / "gate_summary.csv"
    units.to_csv(units_csv, index=False)
    table.to_csv(table_csv, index=False)
    section.tables.append(table)
    section.files += [table_csv, units_csv]
    shown = units[units["module"].isin(units["module"].unique()[:MAX_PANELS])]
    steps = ", ".join(f"{r.name} {int(r.mask().sum())}" for r in records if r.sigmoid_gates)
    path = plot_saturation(shown, folder / "saturation.png", title=f"valid steps: {steps}")
    section.images.append(path)
    return section, table


def text_cell_part(
    record: LayerRecord, probe: Probe, folder: Path, example: int,
    cell: int | None, feature: str | None,
) -> Section:  # fmt: skip
    """One cell's value over the example's tokens: the chosen one, or the one found most
    correlated with a simple feature of the text, searched over every layer and direction."""
    tokens = probe.tokens[example]
    n = min(len(tokens), int(record.mask()[example].sum()))
    tokens = [str(t) for t in tokens[:n]]
    name = "c" if "c" in record.gates else "h"
    if cell is not None:
        _check_units([cell], record.gates[name].shape[-1], f"{record.name} {name}")
        layer, direction = record.num_layers - 1, 0
        match = CellMatch(cell, "", float("nan"))
    else:
        candidates = []
        for layer, direction in record.slices():
            values = record.gate(name, layer, direction)[example, :n]
            found = best_cell(values, tokens, feature, char_level=probe.char_level)
            candidates.append((abs(found.correlation), layer, direction, found))
        _, layer, direction, match = max(candidates, key=lambda c: c[0])
    values = record.gate(name, layer, direction)[example, :n, match.unit]
    how = ("chosen with --cell" if not match.feature else
           f"most correlated with '{match.feature}' (r = {match.correlation:+.2f})")  # fmt: skip
    caption = f"{record.label(layer, direction)}, unit {match.unit} ({name}): {how}"
    path = folder / "text-cell.png"
    shown = np.tanh(values) if name == "c" else values
    colour = "; colour: tanh(c), blue < 0 < red" if name == "c" else "; colour: h, blue < 0 < red"
    pieces = tokens if probe.char_level else [t + " " for t in tokens]
    plot_text_activation(pieces, shown, path, title=caption + colour)
    section = Section("A cell over the text", [f"{caption}; sequence {example}."], [path])
    return section


def attribution_part(probe: Probe, folder: Path, example: int, method: str, steps: int) -> Section:
    """Attributions of the probe's target over its inputs, drawn for the example."""
    target = probe.target
    att = attribute(target.f, target.inputs, method, steps=steps, what=target.baseline)
    n = int(probe.lengths[example])
    values = att.values[example, :n].numpy()
    names = target.feature_names
    if not target.numeric:
        values = values.sum(-1, keepdims=True)  # per token: the embedding's dims summed
    frame = pd.DataFrame(values, columns=names[: values.shape[1]])
    frame.insert(0, "step", np.arange(n))
    csv = folder / "attribution.csv"
    frame.to_csv(csv, index=False)
    labels = None if probe.tokens is None else [str(t) for t in probe.tokens[example][:n]]
    path = folder / "attribution.png"
    title = f"{_METHOD_NAMES[method]} of {target.what}: sequence {example}"
    inputs = target.inputs[example, :n].numpy() if target.numeric else None
    plot_attribution(values, path, inputs=inputs, feature_names=names, step_labels=labels,
                     title=title)  # fmt: skip
    section = Section("Attributions", [_attribution_text(att, target.what)], [path], files=[csv])
    section.tables.append(_completeness(att))
    return section


_METHOD_NAMES = {"ig": "integrated gradients", "grad-x-input": "gradient x input"}


def _attribution_text(att, what: str) -> str:
    if att.method == "ig":
        gap = float(att.completeness_gap.max())
        return (
            f"Integrated gradients of {what}, per input step and feature, against the baseline "
            f"{att.baseline}, with the trapezoid rule on {att.steps} steps. Completeness: the "
            f"attributions of each sequence sum to f(x) - f(baseline) within {gap:.2e} (the "
            "largest gap over the batch)."
        )
    return f"Gradient x input of {what}: x times df/dx at x, per input step and feature."


def _completeness(att) -> pd.DataFrame:
    rows = {"sequence": np.arange(len(att.output)), "f(x)": att.output.numpy(),
            "sum of attributions": att.values.sum((1, 2)).numpy()}  # fmt: skip
    if att.baseline_output is not None:
        rows["f(baseline)"] = att.baseline_output.numpy()
        rows["gap"] = att.completeness_gap.numpy()
    return pd.DataFrame(rows).head(8)
