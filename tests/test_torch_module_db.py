"""PyTorch's own module test database (common_modules.module_db) run against lstmkit: every
valid input builds and runs with torch's output shapes, and every error input raises an
exception that is an instance of the type torch raises (code catching torch's keeps working).
"""

from __future__ import annotations

import pytest
import torch

import lstmkit

common_modules = pytest.importorskip(
    "torch.testing._internal.common_modules", reason="needs expecttest (the dev extra)"
)
NAMES = ("LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell")
INFOS = [i for i in common_modules.module_db if i.module_cls.__name__ in NAMES]
ARGS = {"device": "cpu", "dtype": torch.float32, "requires_grad": False, "training": True}


def test_the_database_has_the_recurrent_modules():
    assert sorted(i.module_cls.__name__ for i in INFOS) == sorted(NAMES)


@pytest.mark.parametrize("info", INFOS, ids=lambda i: i.module_cls.__name__)
def test_valid_inputs_match_torch_shapes(info):
    ours = getattr(lstmkit, info.module_cls.__name__)
    for case in info.module_inputs_func(info, **ARGS):
        c, f = case.constructor_input, case.forward_input
        torch.manual_seed(0)
        theirs_out = info.module_cls(*c.args, **c.kwargs)(*f.args, **f.kwargs)
        our_out = ours(*c.args, **c.kwargs)(*f.args, **f.kwargs)
        flat = torch.utils._pytree.tree_leaves
        assert [t.shape for t in flat(our_out)] == [t.shape for t in flat(theirs_out)]


@pytest.mark.parametrize("info", INFOS, ids=lambda i: i.module_cls.__name__)
def test_error_inputs_raise_torchs_exception_type(info):
    ours = getattr(lstmkit, info.module_cls.__name__)
    cases = info.module_error_inputs_func(info, **ARGS) if info.module_error_inputs_func else []
    assert cases, "the database lists error inputs for every recurrent module"
    for case in cases:
        c, f = case.module_error_input.constructor_input, case.module_error_input.forward_input
        with pytest.raises(case.error_type):
            ours(*c.args, **c.kwargs)(*f.args, **f.kwargs)
