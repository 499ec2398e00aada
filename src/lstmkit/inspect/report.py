"""`inspect_run`: record a saved run's gates on its data and write RUN/inspect/ (PNGs, CSVs and
a self-contained index.html)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lstmkit.inspect.attribution import METHODS
from lstmkit.inspect.html import Section, write_page
from lstmkit.inspect.parts import attribution_part, gates_part, saturation_part, text_cell_part
from lstmkit.inspect.probe import Probe, load_probe
from lstmkit.inspect.record import LayerRecord, Recording, record_gates

__all__ = ["InspectOptions", "inspect_run", "record_probe"]

MAX_MODULES = 4  # recurrent modules drawn as heatmaps at most


@dataclass
class InspectOptions:
    """What `inspect_run` draws.

    Args:
        input: a file of the task's input format to inspect instead of the validation data.
        units: the units whose c and h are drawn (default: the 4 that vary most).
        attribution: "ig", "grad-x-input" or "none" (forecasts and classifications only).
        ig_steps: integrated gradients' trapezoid intervals. Default 64.
        example: which sequence of the batch the pictures show. Default 0.
        limit: sequences of the data run at most. Default 32.
        cell: text models: the unit drawn over the text (default: the one found most
            correlated with a feature).
        feature: text models: the feature searched for (default: every feature).
        out: the report folder (default RUN/inspect).
        max_steps: the heatmaps show at most this many first steps (default all).
    """

    input: str | Path | None = None
    units: list[int] | None = None
    attribution: str = "ig"
    ig_steps: int = 64
    example: int = 0
    limit: int = 32
    cell: int | None = None
    feature: str | None = None
    out: str | Path | None = None
    max_steps: int | None = None

    def check(self) -> None:
        """Refuse bad settings before anything is loaded or written."""
        if self.attribution not in (*METHODS, "none"):
            raise ValueError(f"--attribution must be ig, grad-x-input or none; got "
                             f"{self.attribution!r}")  # fmt: skip
        for name in ("ig_steps", "limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, "
                                 f"got {value!r}")  # fmt: skip
        if self.max_steps is not None and (
            not isinstance(self.max_steps, int) or self.max_steps < 1
        ):
            raise ValueError(f"--max-steps must be a positive integer, got {self.max_steps!r}")
        if not isinstance(self.example, int) or self.example < 0:
            raise ValueError(f"--example must be an integer >= 0, got {self.example!r}")


def record_probe(probe: Probe) -> list[LayerRecord]:
    """Run the probe once under `record_gates`; records get the probe's lengths and order."""
    with record_gates(probe.model) as recording, torch.no_grad():
        probe.run()
    return _aligned(recording, probe)


def _aligned(recording: Recording, probe: Probe) -> list[LayerRecord]:
    """Give each record the lengths of the batch it ran over and the input's time order."""
    for record in recording.layers:
        prefixes = [p for p in probe.layouts if record.name.startswith(p)]
        lengths, reverse = probe.layouts[max(prefixes, key=len)] if prefixes else (None, False)
        lengths = probe.lengths if lengths is None else lengths
        fits = lengths.shape == (record.batch,) and int(lengths.max()) <= record.steps
        if record.lengths is None and fits:
            record.lengths = np.asarray(lengths, dtype=np.int64)
        if reverse and record.lengths is not None:
            record.gates = {k: _reverse(v, record.lengths) for k, v in record.gates.items()}
    return recording.layers


def _reverse(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(L*D, B, T, H) with each sequence's first ``lengths[b]`` steps reversed."""
    steps = values.shape[2]
    t = np.arange(steps)[None, :]
    index = np.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (B, T)
    return np.take_along_axis(values, index[None, :, :, None], axis=2)


def inspect_run(run: str | Path, options: InspectOptions | None = None) -> Path:
    """Inspect the saved run ``run`` of any task and write its report.

    Args:
        run: the run directory a task's training wrote.
        options: what to draw (`InspectOptions`).

    Returns:
        The path of ``index.html``. Its folder also holds every PNG and CSV it shows.

    >>> inspect_run("runs/generate-shakespeare")  # doctest: +SKIP
    PosixPath('runs/generate-shakespeare/inspect/index.html')
    """
    opts = options or InspectOptions()
    opts.check()
    run = Path(run)
    probe = load_probe(run, opts.input, limit=opts.limit)
    if opts.example >= len(probe.lengths):
        raise ValueError(f"--example {opts.example} but the batch has {len(probe.lengths)} "
                         f"sequences (0..{len(probe.lengths) - 1})")  # fmt: skip
    out = Path(opts.out) if opts.out is not None else run / "inspect"
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder for the report")
    if out.exists() and not (out / "index.html").is_file() and any(out.iterdir()):
        raise ValueError(f"--out {out} exists and holds no inspect report; give a new folder")
    work = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        sections = _sections(probe, record_probe(probe), work, opts)
        intro = [f"{probe.kind} run {run}; data: {probe.source}."]
        write_page(work / "index.html", f"lstmkit inspect: {run.name}", intro, sections)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    work.rename(out)  # the finished report replaces the old one in one step
    return out / "index.html"


def _sections(
    probe: Probe, records: list[LayerRecord], folder: Path, opts: InspectOptions
) -> list[Section]:
    if not records:
        raise ValueError(f"the {probe.kind} model ran no lstmkit LSTM/GRU/RNN layer")
    # Heatmaps for the modules that ran over the batch itself (a tagger's character BiLSTM
    # runs over the distinct words instead; its statistics are in the saturation table).
    own = [r for r in records if probe.over_batch(r.name, r.batch)] or records
    heatmaps = gates_part(
        own[:MAX_MODULES], probe, folder, opts.example, opts.units, opts.max_steps
    )
    sections = [heatmaps]
    saturation, _ = saturation_part(records, folder)
    sections.append(saturation)
    main = next((r for r in records if probe.tokens and probe.over_batch(r.name, r.batch)), None)
    if main is not None:
        sections.append(text_cell_part(main, probe, folder, opts.example, opts.cell, opts.feature))
    if probe.target is not None and opts.attribution != "none":
        sections.append(
            attribution_part(probe, folder, opts.example, opts.attribution, opts.ig_steps)
        )
    return sections
