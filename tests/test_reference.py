"""Tests for lstmkit.reference: torch agreement, finite differences, truncated BPTT, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lstmkit import LSTM
from lstmkit import reference as ref

T, B, I, H = 5, 2, 3, 4  # noqa: E741 (I is the paper's input size)


def _problem(num_layers=1, *, bias=True, peephole=False, cifg=False, seed=0, t=T):
    """Parameters, inputs and upstream gradients for one small random problem."""
    params = ref.init_params(I, H, num_layers, bias=bias, peephole=peephole, cifg=cifg, seed=seed)
    rng = np.random.default_rng(seed + 100)
    state = (num_layers, B, H)
    x, h0, c0 = (
        rng.standard_normal((t, B, I)),
        rng.standard_normal(state),
        rng.standard_normal(state),
    )
    ups = rng.standard_normal((t, B, H)), rng.standard_normal(state), rng.standard_normal(state)
    return params, x, h0, c0, ups


def _torch_lstm(params, num_layers, bias=True):
    model = torch.nn.LSTM(I, H, num_layers, bias=bias).double()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
    return model


def _torch_run(model, x, h0, c0, ups, detach_at=None):
    """Output, final state and gradients from torch autograd; state detached at step detach_at."""
    leaves = [torch.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    xt, state = leaves[0], tuple(leaves[1:])
    cut = detach_at or 0
    outs = []
    if cut > 0:
        out, state = model(xt[:cut], state)
        outs.append(out)
        state = tuple(s.detach() for s in state)
    out, (h_n, c_n) = model(xt[cut:], state)
    out = torch.cat([*outs, out])
    loss = sum((a * torch.from_numpy(u)).sum() for a, u in zip((out, h_n, c_n), ups, strict=True))
    loss.backward()
    grads = {n: p.grad.numpy() for n, p in model.named_parameters()}
    grads.update(x=leaves[0].grad.numpy(), h0=leaves[1].grad.numpy(), c0=leaves[2].grad.numpy())
    return out.detach().numpy(), h_n.detach().numpy(), c_n.detach().numpy(), grads


def _sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _loss(params, x, h0, c0, ups, **variant) -> float:
    out, h_n, c_n, _ = ref.forward(params, x, h0, c0, **variant)
    return float(sum((a * u).sum() for a, u in zip((out, h_n, c_n), ups, strict=True)))


# ---- against torch.nn.LSTM ----------------------------------------------------------------


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_forward_and_gradients_equal_torch(num_layers, bias):
    params, x, h0, c0, ups = _problem(num_layers, bias=bias, seed=num_layers)
    out, h_n, c_n, cache = ref.forward(params, x, h0, c0)
    grads = ref.backward(params, cache, *ups)
    t_out, t_h, t_c, t_grads = _torch_run(_torch_lstm(params, num_layers, bias), x, h0, c0, ups)
    np.testing.assert_allclose(out, t_out, rtol=0, atol=1e-10)
    np.testing.assert_allclose(h_n, t_h, rtol=0, atol=1e-10)
    np.testing.assert_allclose(c_n, t_c, rtol=0, atol=1e-10)
    assert set(grads) == set(t_grads) == {*params, "x", "h0", "c0"}
    for name, g in t_grads.items():
        np.testing.assert_allclose(grads[name], g, rtol=0, atol=1e-10, err_msg=name)


def test_float32_and_default_state_match_torch():
    params, x, *_ = _problem(2, seed=7)
    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    out, _, c_n, _ = ref.forward(params32, x.astype(np.float32))
    model = torch.nn.LSTM(I, H, 2)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in params32.items()})
    t_out, (_, t_c) = model(torch.from_numpy(x.astype(np.float32)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, t_out.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(c_n, t_c.detach().numpy(), atol=1e-5)


def test_cifg_equals_torch_lstm_with_forget_weights_negated():
    # sigmoid(-a) = 1 - sigmoid(a): a plain LSTM whose f block is minus its i block is CIFG.
    params, x, h0, c0, ups = _problem(2, cifg=True, seed=3)
    plain = {}
    for name, v in params.items():
        i_, g_, o_ = np.split(v, 3)
        plain[name] = np.concatenate([i_, -i_, g_, o_])
    out, h_n, _, _ = ref.forward(params, x, h0, c0, cifg=True)
    t_out, t_h, _, _ = _torch_run(_torch_lstm(plain, 2), x, h0, c0, ups)
    np.testing.assert_allclose(out, t_out, rtol=0, atol=1e-10)
    np.testing.assert_allclose(h_n, t_h, rtol=0, atol=1e-10)


@pytest.mark.parametrize("cifg", [False, True])
def test_peephole_step_equals_the_equations_written_per_unit(cifg):
    params, x, h0, c0, _ = _problem(1, peephole=True, cifg=cifg, seed=5, t=1)
    _, h_n, c_n, _ = ref.forward(params, x, h0, c0, peephole=True, cifg=cifg)
    W, U = params["weight_ih_l0"], params["weight_hh_l0"]
    bsum, w = params["bias_ih_l0"] + params["bias_hh_l0"], params["weight_ch_l0"]
    names = "igo" if cifg else "ifgo"
    peeps = dict(zip("io" if cifg else "ifo", np.split(w, len(names) - 1), strict=True))
    for b in range(B):
        for u in range(H):
            a = {
                n: W[k * H + u] @ x[0, b] + U[k * H + u] @ h0[0, b] + bsum[k * H + u]
                for k, n in enumerate(names)
            }
            c_prev = c0[0, b, u]
            i = _sig(a["i"] + peeps["i"][u] * c_prev)
            f = 1.0 - i if cifg else _sig(a["f"] + peeps["f"][u] * c_prev)
            c = f * c_prev + i * math.tanh(a["g"])
            h = _sig(a["o"] + peeps["o"][u] * c) * math.tanh(c)
            assert c_n[0, b, u] == pytest.approx(c, abs=1e-12)
            assert h_n[0, b, u] == pytest.approx(h, abs=1e-12)


LAYER_VARIANTS = [
    pytest.param(2, True, False, False, id="2 layers plain"),
    pytest.param(1, True, True, False, id="peephole"),
    pytest.param(1, True, False, True, id="cifg"),
    pytest.param(2, True, True, True, id="2 layers peephole+cifg"),
    pytest.param(2, False, True, True, id="peephole+cifg without bias"),
]


@pytest.mark.parametrize(("num_layers", "bias", "peephole", "cifg"), LAYER_VARIANTS)
def test_lstmkit_layer_autograd_engine_equals_reference(num_layers, bias, peephole, cifg):
    variant = {"peephole": peephole, "cifg": cifg}
    params, x, h0, c0, ups = _problem(num_layers, bias=bias, seed=9, **variant)
    out, h_n, c_n, cache = ref.forward(params, x, h0, c0, **variant)
    grads = ref.backward(params, cache, *ups)
    layer = LSTM(I, H, num_layers, bias, dtype=torch.float64, engine="autograd", **variant)
    layer.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})  # strict names
    l_out, l_h, l_c, l_grads = _torch_run(layer, x, h0, c0, ups)
    for mine, theirs in ((out, l_out), (h_n, l_h), (c_n, l_c)):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-10)
    assert set(grads) == set(l_grads)
    for name, g in l_grads.items():
        np.testing.assert_allclose(grads[name], g, rtol=0, atol=1e-10, err_msg=name)


# ---- finite differences -------------------------------------------------------------------

VARIANTS = [
    pytest.param(1, False, False, id="plain"),
    pytest.param(1, True, False, id="peephole"),
    pytest.param(1, False, True, id="cifg"),
    pytest.param(1, True, True, id="peephole+cifg"),
    pytest.param(2, False, False, id="2 layers"),
    pytest.param(2, True, True, id="2 layers peephole+cifg"),
]


@pytest.mark.parametrize(("num_layers", "peephole", "cifg"), VARIANTS)
def test_gradients_equal_central_differences(num_layers, peephole, cifg):
    variant = {"peephole": peephole, "cifg": cifg}
    params, x, h0, c0, ups = _problem(num_layers, seed=11, **variant)
    *_, cache = ref.forward(params, x, h0, c0, **variant)
    grads = ref.backward(params, cache, *ups)
    tensors = {**params, "x": x, "h0": h0, "c0": c0}
    assert set(grads) == set(tensors)
    rng, eps = np.random.default_rng(0), 1e-5
    for name, arr in tensors.items():
        picks = rng.choice(arr.size, size=min(arr.size, 8), replace=False)
        numeric, analytic = [], []
        for flat in picks:
            idx = np.unravel_index(flat, arr.shape)
            keep = arr[idx]
            arr[idx] = keep + eps
            up = _loss(params, x, h0, c0, ups, **variant)
            arr[idx] = keep - eps
            down = _loss(params, x, h0, c0, ups, **variant)
            arr[idx] = keep
            numeric.append((up - down) / (2 * eps))
            analytic.append(grads[name][idx])
        numeric, analytic = np.array(numeric), np.array(analytic)
        rel = np.linalg.norm(numeric - analytic) / (
            np.linalg.norm(numeric) + np.linalg.norm(analytic)
        )
        assert rel < 1e-6, f"{name}: relative error {rel:.2e}"


# ---- truncated BPTT -----------------------------------------------------------------------


@pytest.mark.parametrize("peephole", [False, True])
def test_truncate_at_or_beyond_T_is_full_bptt(peephole):
    params, x, h0, c0, ups = _problem(2, peephole=peephole, seed=2)
    *_, cache = ref.forward(params, x, h0, c0, peephole=peephole)
    full = ref.backward(params, cache, *ups)
    for k in (T, T + 3):
        cut = ref.backward(params, cache, *ups, truncate=k)
        for name, g in full.items():
            np.testing.assert_array_equal(cut[name], g, err_msg=f"truncate={k}: {name}")
    shorter = ref.backward(params, cache, *ups, truncate=T - 1)
    assert np.abs(shorter["weight_hh_l0"] - full["weight_hh_l0"]).max() > 1e-3


@pytest.mark.parametrize("k", [1, 2, T - 1])
def test_truncate_equals_torch_with_state_detached_k_steps_from_the_end(k):
    params, x, h0, c0, ups = _problem(2, seed=4)
    *_, cache = ref.forward(params, x, h0, c0)
    grads = ref.backward(params, cache, *ups, truncate=k)
    *_, t_grads = _torch_run(_torch_lstm(params, 2), x, h0, c0, ups, detach_at=T - k)
    for name, g in t_grads.items():
        np.testing.assert_allclose(grads[name], g, rtol=0, atol=1e-10, err_msg=name)


def test_truncate_1_with_loss_on_the_last_step_only_sees_that_step():
    params, x, h0, c0, (d_out, d_h, d_c) = _problem(1, seed=6)
    d_out[:-1] = 0.0
    *_, cache = ref.forward(params, x, h0, c0)
    grads = ref.backward(params, cache, d_out, d_h, d_c, truncate=1)
    assert np.all(grads["x"][:-1] == 0.0) and np.abs(grads["x"][-1]).max() > 1e-3
    assert np.all(grads["h0"] == 0.0) and np.all(grads["c0"] == 0.0)


# ---- helpers and errors -------------------------------------------------------------------


def test_sigmoid_is_stable_at_extremes():
    z = np.array([-1e4, -30.0, 0.0, 30.0, 1e4])
    s = ref.sigmoid(z)  # an overflow would warn, and warnings fail this suite
    assert s[0] == 0.0 and s[2] == 0.5 and s[-1] == 1.0
    assert s[1] == pytest.approx(math.exp(-30.0), rel=1e-12)
    assert s[3] == pytest.approx(1.0 - math.exp(-30.0), abs=1e-15)


def test_init_params_names_shapes_and_range():
    params = ref.init_params(3, 5, 2, peephole=True, cifg=True, seed=1, dtype=np.float32)
    assert {k: v.shape for k, v in params.items()} == {
        "weight_ih_l0": (15, 3),
        "weight_hh_l0": (15, 5),
        "bias_ih_l0": (15,),
        "bias_hh_l0": (15,),
        "weight_ch_l0": (10,),
        "weight_ih_l1": (15, 5),
        "weight_hh_l1": (15, 5),
        "bias_ih_l1": (15,),
        "bias_hh_l1": (15,),
        "weight_ch_l1": (10,),
    }
    assert all(v.dtype == np.float32 and np.abs(v).max() <= 5**-0.5 for v in params.values())
    assert set(ref.init_params(3, 4, bias=False)) == {"weight_ih_l0", "weight_hh_l0"}
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got 0"):
        ref.init_params(3, 0)


def _without(params, name):
    return {k: v for k, v in params.items() if k != name}


def test_bad_inputs_name_what_was_received():
    params, x, h0, c0, ups = _problem(2)
    with pytest.raises(ValueError, match=r"shape \(T, B, I\), got shape \(5, 3\)"):
        ref.forward(params, x[:, 0])
    with pytest.raises(TypeError, match="x has dtype int64; pass floats"):
        ref.forward(params, x.astype(np.int64))
    with pytest.raises(ValueError, match=r"x has 2 features \(x.shape\[2\]\) but weight_ih_l0"):
        ref.forward(params, x[:, :, :2])
    with pytest.raises(ValueError, match=r"missing 'weight_ih_l1' \(layer 1 of 2 layers\)"):
        ref.forward(_without(params, "weight_ih_l1"), x)
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 2, 4\), got shape \(1, 2, 4\)"):
        ref.forward(params, x, h0[:1], c0)
    with pytest.raises(
        ValueError,
        match=r"weight_ih_l0 has shape \(16, 3\) but expected \(12, 3\): cifg=True means 3 gate",
    ):
        ref.forward(params, x, cifg=True)
    with pytest.raises(ValueError, match="unexpected 'weight_ch_l0'; pass peephole=True"):
        ref.forward(ref.init_params(I, H, peephole=True), x)
    with pytest.raises(ValueError, match="params is missing 'weight_ch_l0'"):
        ref.forward(params, x, peephole=True)
    with pytest.raises(TypeError, match=r"params\['bias_ih_l0'\] is a Tensor; pass NumPy"):
        ref.forward({**params, "bias_ih_l0": torch.zeros(4 * H)}, x)
    *_, cache = ref.forward(params, x)
    with pytest.raises(
        ValueError, match=r"d_out must have shape \(5, 2, 4\), got shape \(4, 2, 4\)"
    ):
        ref.backward(params, cache, ups[0][1:])
    with pytest.raises(ValueError, match="truncate must be a positive int or None, got 0"):
        ref.backward(params, cache, ups[0], truncate=0)
