"""Look inside a saved run of any task: gate activity, saturation, a text cell, attributions.

`inspect_run(RUN)` (the command `lstmkit inspect RUN`) records every gate of the run's
recurrent layers on its validation data (`record_gates`; nothing is recorded otherwise) and
writes ``RUN/inspect/``: heatmaps of i, f, o (with c and h of chosen units) per layer and
direction, the saturation scatter of Karpathy, Johnson & Fei-Fei (2015) and its summary table,
for text models the cell that follows a feature of the text drawn over a passage, and for
forecasts and classifications integrated gradients or gradient x input over the input, all in
one self-contained ``index.html``.
"""

from .attribution import Attribution, attribute, gradient_x_input, integrated_gradients
from .probe import Probe, Target, load_probe
from .record import LayerRecord, Recording, record_gates
from .report import InspectOptions, inspect_run, record_probe
from .stats import saturation, summary
from .text_cells import best_cell

__all__ = [
    "Attribution",
    "InspectOptions",
    "LayerRecord",
    "Probe",
    "Recording",
    "Target",
    "attribute",
    "best_cell",
    "gradient_x_input",
    "inspect_run",
    "integrated_gradients",
    "load_probe",
    "record_gates",
    "record_probe",
    "saturation",
    "summary",
]
