"""Export a task's saved run to ONNX, verified with onnxruntime, and optionally to int8."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import onnx
import torch

from lstmkit.export import accuracy, quantize
from lstmkit.export.check import TOLERANCE, max_error, session, verify
from lstmkit.export.layer import DEFAULT_OPSET, check_opset
from lstmkit.export.model import export_network
from lstmkit.export.tasks import Exportable, exportable, exportable_parts, task_class
from lstmkit.io import INDEX, atomic_write, load_artifact

TRACE_BATCH, TRACE_STEPS = 3, 7  # any sizes do: verify checks others


@dataclass
class Exported:
    """A verified ONNX model of a task's network."""

    model: onnx.ModelProto
    spec: Exportable
    max_abs_error: float

    @property
    def input_names(self) -> list[str]:
        return list(self.spec.inputs)


def export_task(task: Any, *, opset: int = DEFAULT_OPSET, tolerance: float = TOLERANCE) -> Exported:
    """Export a loaded task's network and check it against the task on random inputs.

    Args:
        task: a trained task (`Forecaster`, `Classifier`, ... or one `load`ed from a run).
        opset: the ONNX opset (17-21).
        tolerance: the largest error allowed, relative to the outputs' scale.
    Returns:
        The model and the max abs error measured.
    Raises:
        ExportError: the model does not reproduce lstmkit within `tolerance`.
    """
    return _export(exportable(task), opset, tolerance)


def export_parts(
    task: Any, *, opset: int = DEFAULT_OPSET, tolerance: float = TOLERANCE
) -> dict[str, Exported]:
    """Every graph of a task's run by file stem: {"model": ...}, or for translate
    {"encoder": ..., "decoder_step": ...}; each checked as `export_task` checks."""
    return {name: _export(s, opset, tolerance) for name, s in exportable_parts(task).items()}


def _export(spec: Exportable, opset: int, tolerance: float) -> Exported:
    check_opset(opset)
    gen = torch.Generator().manual_seed(1)
    example = spec.sample(TRACE_BATCH, TRACE_STEPS, gen)
    axes = spec.inputs | spec.outputs
    model = export_network(spec.net, example, list(spec.inputs), list(spec.outputs), axes, opset)
    error = verify(model, spec.net, spec.sample, list(spec.inputs), tolerance)
    return Exported(model, spec, error)


@dataclass
class Row:
    """One model's line of the quantization table."""

    model: str
    bytes: int
    ms_batch1: float
    ms_batch32: float
    metric: float | None = None


@dataclass
class Report:
    """What `export_run` wrote and measured."""

    kind: str
    onnx: str
    max_abs_error: float
    opset: int
    int8: str | None = None
    int8_share: float | None = None
    int8_max_abs_deviation: float | None = None
    metric_name: str | None = None
    rows: list[Row] = field(default_factory=list)


def export_run(
    run: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    int8: bool = False,
    opset: int = DEFAULT_OPSET,
    test_data: Any = None,
    steps: int = 50,
) -> Report:
    """Export the saved run `run` to `out` (default RUN/export/): model.onnx, and with
    `int8` model.int8.onnx plus the quantization table (size, latency at batch 1 and 32 for
    `steps` time steps, the task's test metric when it has one) in report.json."""
    check_opset(opset)
    kind = load_artifact(Path(run)).kind if (Path(run) / INDEX).is_file() else None
    if kind is None:
        raise ValueError(f"{run} holds no saved lstmkit run (no {INDEX}); pass a run directory")
    task = task_class(kind).load(run)
    parts = export_parts(task, opset=opset)  # every check passes before anything is written
    if int8 and len(parts) > 1:
        raise ValueError(f"--int8 covers one-graph runs; a {kind} run exports {len(parts)} graphs")
    folder = Path(out) if out is not None else Path(run) / "export"
    paths = [str(quantize.save_model(e.model, folder / f"{n}.onnx")) for n, e in parts.items()]
    worst = max(e.max_abs_error for e in parts.values())
    report = Report(kind, ", ".join(paths), worst, opset)
    if int8:
        _quantize(task, parts["model"], folder, report, test_data, steps)
    atomic_write(folder / "report.json", json.dumps(asdict(report), indent=2).encode())
    return report


def _quantize(task, exported: Exported, folder: Path, report: Report, data, steps: int) -> None:
    small = quantize.quantized(exported.model)
    report.int8 = str(quantize.save_model(small, folder / "model.int8.onnx"))
    report.int8_share = quantize.int8_share(small)
    spec, names = exported.spec, exported.input_names
    gen = torch.Generator().manual_seed(2)
    cases = [spec.sample(b, steps, gen) for b in (1, 32)]
    report.int8_max_abs_deviation = max_error(session(small), spec.net, cases, names)[0]
    has_metric = task.kind in accuracy.METRICS and (task.kind == "forecast" or data is not None)
    report.metric_name = accuracy.METRICS[task.kind][0] if has_metric else None
    for label, model in (("onnx float32", exported.model), ("onnx int8", small)):
        sess = session(model, threads=torch.get_num_threads())
        run = quantize.onnx_runner(sess, names)
        row = Row(
            label, quantize.size_on_disk(model), *(quantize.latency_ms(run, c) for c in cases)
        )
        if has_metric:
            net = accuracy.OnnxNet(sess, names, log=task.kind == "classify")
            row.metric = accuracy.task_metric(task, net, data)
        report.rows.append(row)
    weights = sum(t.numel() * t.element_size() for t in spec.net.state_dict().values())
    with torch.no_grad():
        eager = Row("lstmkit eager", weights, *(_eager_ms(spec.net, c) for c in cases))
    if has_metric:
        eager.metric = accuracy.task_metric(task, None, data)
    report.rows.insert(0, eager)


def _eager_ms(net: torch.nn.Module, args) -> float:
    return quantize.latency_ms(lambda a: net(*a), args)


def format_report(report: Report) -> str:
    """The report as the lines `lstmkit export` prints."""
    lines = [f"{report.kind}: {report.onnx} (opset {report.opset}), max abs error against "
             f"lstmkit {report.max_abs_error:.2e} on random inputs with mixed lengths"]  # fmt: skip
    if report.int8 is None:
        return "\n".join(lines)
    lines.append(
        f"int8: {report.int8} ({report.int8_share:.0%} of the weights int8), max abs deviation "
        f"from float {report.int8_max_abs_deviation:.2e}"
    )
    metric = report.metric_name or "metric"
    lines.append(f"{'model':<14} {'bytes':>10} {'ms b=1':>8} {'ms b=32':>8} {metric:>9}")
    for r in report.rows:
        shown = "n/a" if r.metric is None else f"{r.metric:.4f}"
        lines.append(
            f"{r.model:<14} {r.bytes:>10} {r.ms_batch1:>8.3f} {r.ms_batch32:>8.3f} {shown:>9}"
        )
    return "\n".join(lines)
