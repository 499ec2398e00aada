"""Ship a trained model: ONNX export checked with onnxruntime, and int8 quantization.

Needs the `export` extra (`pip install 'lstmkit[export]'`: onnx, onnxruntime). The public
API: `export_run` (a saved run, as `lstmkit export RUN --onnx` does), `export_task` (a
loaded task), `layer_model` (one LSTM/GRU/RNN layer), `verify` and `ExportError`.
How the recurrence is exported and why: `lstmkit.export.model` and `lstmkit.export.stack`.
"""

from __future__ import annotations

MISSING = "lstmkit.export needs onnx and onnxruntime: pip install 'lstmkit[export]'"

try:
    from lstmkit.export.api import Report, export_run, export_task, format_report
    from lstmkit.export.check import ExportError, verify
    from lstmkit.export.layer import layer_model
    from lstmkit.export.quantize import quantized
except ModuleNotFoundError as err:  # the extra is missing: say so on first use, in one line
    if err.name is None or err.name.split(".")[0] not in ("onnx", "onnxruntime"):
        raise

    def __getattr__(name: str):
        raise ImportError(MISSING)


__all__ = [
    "ExportError",
    "Report",
    "export_run",
    "export_task",
    "format_report",
    "layer_model",
    "quantized",
    "verify",
]
