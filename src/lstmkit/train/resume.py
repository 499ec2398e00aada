"""Turning optimizer state and recurrent state into tensors + JSON for checkpoints, and back."""

from __future__ import annotations

from typing import Any

import torch

from .checkpoint import CheckpointError


def optimizer_to_flat(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (``optim.<param>.<key>``) and JSON.

    Returns:
        ``(tensors, meta)`` for :func:`optimizer_from_flat`.
    """
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    state: dict[str, dict[str, Any]] = {}
    for pid, entries in sd["state"].items():
        plain, names = {}, []
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = value
                names.append(key)
            else:
                plain[key] = value
        state[str(pid)] = {"values": plain, "tensors": names}
    meta = {"class": type(optimizer).__name__, "param_groups": sd["param_groups"], "state": state}
    return tensors, meta


def optimizer_from_flat(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> dict[str, Any]:
    """Rebuild a state dict for ``optimizer`` from :func:`optimizer_to_flat` output, checked.

    Nothing is loaded here: the caller loads the result once every other part of the
    checkpoint has been checked too.

    Returns:
        A state dict for ``optimizer.load_state_dict``.

    Raises:
        CheckpointError: if the optimizer type, groups or buffer shapes differ.
    """
    if meta["class"] != type(optimizer).__name__:
        raise CheckpointError(
            f"the checkpoint's optimizer is {meta['class']}, this run uses "
            f"{type(optimizer).__name__}"
        )
    current = optimizer.param_groups
    groups = meta["param_groups"]
    if len(groups) != len(current):
        raise CheckpointError(
            f"the checkpoint's optimizer has {len(groups)} parameter groups, "
            f"this one {len(current)}"
        )
    params: dict[int, torch.Tensor] = {}
    for saved, live in zip(groups, current, strict=True):
        if len(saved["params"]) != len(live["params"]):
            raise CheckpointError(
                f"an optimizer group holds {len(saved['params'])} parameters in the checkpoint "
                f"and {len(live['params'])} in this model"
            )
        params.update(zip(saved["params"], live["params"], strict=True))
        # JSON turned tuples (Adam's betas) into lists; give them back their type.
        for key, value in live.items():
            if isinstance(value, tuple) and isinstance(saved.get(key), list):
                saved[key] = tuple(saved[key])
    state: dict[int, dict[str, Any]] = {}
    for pid, entry in meta["state"].items():
        values = dict(entry["values"])
        for key in entry["tensors"]:
            value = tensors[f"optim.{pid}.{key}"]
            param = params.get(int(pid))
            if param is None or (value.dim() > 0 and value.shape != param.shape):
                raise CheckpointError(
                    f"optimizer buffer {key} of parameter {pid} does not fit this model"
                )
            values[key] = value
        state[int(pid)] = values
    return {"state": state, "param_groups": groups}


def state_to_flat(state: Any, prefix: str = "carry") -> tuple[dict[str, torch.Tensor], Any]:
    """Flatten a recurrent state (nested tuples/lists/dicts of tensors, or None).

    Returns:
        ``(tensors, spec)``: tensors named ``prefix.<i>`` and a JSON spec of the nesting.
    """
    tensors: dict[str, torch.Tensor] = {}

    def walk(node: Any) -> Any:
        if node is None:
            return None
        if isinstance(node, torch.Tensor):
            name = f"{prefix}.{len(tensors)}"
            tensors[name] = node.detach()
            return {"tensor": name}
        if isinstance(node, dict):
            return {"dict": {str(k): walk(v) for k, v in node.items()}}
        if isinstance(node, (tuple, list)):
            return {"tuple" if isinstance(node, tuple) else "list": [walk(v) for v in node]}
        raise TypeError(
            f"a carried state may hold only tensors, tuples, lists, dicts and None, "
            f"got {type(node).__name__}"
        )

    return tensors, walk(state)


def state_from_flat(tensors: dict[str, torch.Tensor], spec: Any, device: torch.device) -> Any:
    """Rebuild the state written by :func:`state_to_flat` on ``device``."""
    if spec is None:
        return None
    if "tensor" in spec:
        return tensors[spec["tensor"]].to(device)
    if "dict" in spec:
        return {k: state_from_flat(tensors, v, device) for k, v in spec["dict"].items()}
    if "tuple" in spec:
        return tuple(state_from_flat(tensors, v, device) for v in spec["tuple"])
    return [state_from_flat(tensors, v, device) for v in spec["list"]]
