"""DeepAR likelihood heads against torch.distributions, by hand and by fitting known data."""

from __future__ import annotations

import pytest
import torch
from torch.nn.functional import softplus

from lstmkit.nn.likelihoods import (
    LIKELIHOODS,
    MIN_POSITIVE,
    GaussianHead,
    NegativeBinomialHead,
    StudentTHead,
    make_head,
    mean_scale,
)

B, T, H = 3, 5, 4


def random_head(name: str, seed: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A float64 head with fresh random weights, hidden states (B, T, H) and scale (B, 1)."""
    torch.manual_seed(seed)
    head = make_head(name, H).double()
    hidden = torch.randn(B, T, H, dtype=torch.float64)
    scale = torch.rand(B, 1, dtype=torch.float64) * 20 + 0.5
    return head, hidden, scale


def oracle(name: str, p: dict[str, torch.Tensor]) -> torch.distributions.Distribution:
    """The same distribution written with torch's own classes and parametrisations."""
    if name == "gaussian":
        return torch.distributions.Normal(p["mu"], p["sigma"])
    if name == "student_t":
        return torch.distributions.StudentT(p["df"], p["mu"], p["sigma"])
    odds = p["alpha"] * p["mu"]
    return torch.distributions.NegativeBinomial(1 / p["alpha"], probs=odds / (1 + odds))


def targets(name: str, p: dict[str, torch.Tensor], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if name == "negative_binomial":
        return torch.randint(0, 60, p["mu"].shape, generator=g).double()
    return p["mu"] + p["sigma"] * 3 * torch.randn(p["mu"].shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_log_prob_matches_torch_distributions(name, seed):
    head, hidden, scale = random_head(name, seed)
    p = head(hidden, scale)
    assert all(v.shape == (B, T) for v in p.values())
    y = targets(name, p, seed + 100)
    torch.testing.assert_close(
        head.log_prob(p, y), oracle(name, p).log_prob(y), rtol=1e-10, atol=1e-10
    )


def test_parameter_transforms_and_deepar_scaling():
    hidden = torch.randn(B, T, H, dtype=torch.float64)
    scale = torch.tensor([[2.0], [9.0], [0.25]], dtype=torch.float64)
    for cls in (GaussianHead, StudentTHead, NegativeBinomialHead):
        head = cls(H).double()
        raw = head.proj(hidden)  # (B, T, P)
        p = head(hidden, scale)
        pos = softplus(raw) + MIN_POSITIVE
        if cls is NegativeBinomialHead:
            torch.testing.assert_close(p["mu"], pos[..., 0] * scale)
            torch.testing.assert_close(p["alpha"], pos[..., 1] / scale.sqrt())
        else:
            torch.testing.assert_close(p["mu"], raw[..., 0] * scale)
            torch.testing.assert_close(p["sigma"], pos[..., 1] * scale)
        if cls is StudentTHead:
            torch.testing.assert_close(p["df"], 2 + softplus(raw[..., 2]))
            assert torch.all(p["df"] > 2)
    # (B,) and a float broadcast like (B, 1); one step (B, H) gives (B,)
    head = GaussianHead(H).double()
    torch.testing.assert_close(head(hidden, scale[:, 0])["mu"], head(hidden, scale)["mu"])
    torch.testing.assert_close(head(hidden, 2.0)["mu"], 2.0 * head(hidden)["mu"])
    assert head(hidden[:, 0], scale)["mu"].shape == (B,)


def test_negative_binomial_sums_to_one_with_the_stated_moments():
    head = NegativeBinomialHead(H).double()
    p = {"mu": torch.tensor([0.3, 4.0, 25.0]), "alpha": torch.tensor([2.0, 0.5, 0.05])}
    p = {k: v.double()[:, None] for k, v in p.items()}
    k = torch.arange(0, 4000, dtype=torch.float64)[None, :]
    pmf = head.log_prob(p, k).exp()  # (3, K)
    torch.testing.assert_close(pmf.sum(1), torch.ones(3, dtype=torch.float64))
    mean = (pmf * k).sum(1, keepdim=True)
    var = (pmf * (k - mean) ** 2).sum(1, keepdim=True)
    torch.testing.assert_close(mean, p["mu"])
    torch.testing.assert_close(var, p["mu"] + p["alpha"] * p["mu"] ** 2)


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_sampling_reproducible_and_leaves_global_rng(name):
    head, hidden, scale = random_head(name, 7)
    with torch.no_grad():
        p = head(hidden, scale)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    a = head.sample(p, 50, seed=123)
    assert torch.equal(torch.get_rng_state(), before)
    assert a.shape == (50, B, T)
    assert torch.equal(a, head.sample(p, 50, seed=123))
    assert not torch.equal(a, head.sample(p, 50, seed=124))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    run1 = [head.sample(p, seed=g1) for _ in range(3)]
    run2 = [head.sample(p, seed=g2) for _ in range(3)]
    assert all(torch.equal(x, y) for x, y in zip(run1, run2))
    assert not torch.equal(run1[0], run1[1])  # the generator moves on between steps
    assert run1[0].shape == (B, T)
    if name == "negative_binomial":
        assert torch.all(a >= 0) and torch.equal(a, a.round())


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_sample_moments(name):
    head = make_head(name, H).double()
    mu = torch.tensor([[3.0, 40.0]], dtype=torch.float64)
    p = {"mu": mu, "sigma": torch.tensor([[0.5, 4.0]], dtype=torch.float64)}
    p["df"] = torch.tensor([[5.0, 9.0]], dtype=torch.float64)
    p["alpha"] = torch.tensor([[0.2, 0.02]], dtype=torch.float64)
    x = head.sample(p, 200_000, seed=1)
    torch.testing.assert_close(x.mean(0), head.mean(p), rtol=0.02, atol=0.0)
    want_var = oracle(name, p).variance
    torch.testing.assert_close(x.var(0), want_var, rtol=0.05, atol=0.0)


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_gradients_finite_even_for_extreme_hidden_states(name):
    torch.manual_seed(3)
    head = make_head(name, H)
    hidden = (torch.randn(B, T, H) * 50).requires_grad_()
    scale = mean_scale(torch.rand(B, 12) * 100, plus_one=name == "negative_binomial")
    p = head(hidden, scale)
    y = torch.randint(0, 200, (B, T)).float()
    loss = head.nll(p, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.all(torch.isfinite(hidden.grad))
    assert all(torch.all(torch.isfinite(w.grad)) for w in head.parameters())


def test_nll_with_mask_averages_observed_points_only():
    head, hidden, scale = random_head("gaussian", 9)
    p = head(hidden, scale)
    y = targets("gaussian", p, 10)
    mask = torch.rand(B, T) > 0.4
    mask[0, 0] = True
    want = -head.log_prob(p, y)[mask].mean()
    torch.testing.assert_close(head.nll(p, y, mask), want)
    torch.testing.assert_close(head.nll(p, y), -head.log_prob(p, y).mean())


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_fitting_known_data_recovers_its_parameters(name):
    torch.manual_seed(4)
    truth = {"mu": torch.tensor(12.0), "sigma": torch.tensor(3.0), "df": torch.tensor(4.0)}
    truth["alpha"] = torch.tensor(0.1)
    y = oracle(name, {k: v.double() for k, v in truth.items()}).sample((2000,)).float()[None, :]
    head = make_head(name, 1)
    hidden = torch.ones(1, y.shape[1], 1)
    opt = torch.optim.Adam(head.parameters(), lr=0.1)
    scale = mean_scale(y, plus_one=name == "negative_binomial")
    for _ in range(200):
        opt.zero_grad()
        head.nll(head(hidden, scale), y).backward()
        opt.step()
    with torch.no_grad():
        got = head(hidden[:, :1], scale)
    assert got["mu"].item() == pytest.approx(12.0, rel=0.05)
    key = "alpha" if name == "negative_binomial" else "sigma"
    assert got[key].item() == pytest.approx(truth[key].item(), rel=0.15)


def test_mean_scale_by_hand():
    v = torch.tensor([[1.0, -3.0, 2.0], [0.0, 0.0, 0.0], [4.0, 8.0, 100.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 1, 0]])
    torch.testing.assert_close(mean_scale(v, mask), torch.tensor([[2.0], [1e-8], [6.0]]))
    torch.testing.assert_close(
        mean_scale(v, mask, plus_one=True), torch.tensor([[3.0], [1.0], [7.0]])
    )


def test_bad_input_says_what_to_pass():
    with pytest.raises(ValueError, match="likelihood must be one of"):
        make_head("poisson", 4)
    with pytest.raises(ValueError, match="scale must be positive"):
        GaussianHead(4)(torch.randn(2, 3, 4), torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"pass \(B, T\)"):
        mean_scale(torch.randn(2, 3, 4))


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_float32_heads_agree_with_float64(name):
    head64, hidden, scale = random_head(name, 11)
    head32 = make_head(name, H)
    head32.load_state_dict({k: v.float() for k, v in head64.state_dict().items()})
    p64, p32 = head64(hidden, scale), head32(hidden.float(), scale.float())
    assert all(v.dtype == torch.float32 for v in p32.values())
    y = targets(name, p64, 12)
    lp32 = head32.log_prob(p32, y.float()).double()
    torch.testing.assert_close(lp32, head64.log_prob(p64, y), rtol=1e-4, atol=1e-4)


def test_student_t_tends_to_the_gaussian_as_df_grows():
    mu, sigma = torch.randn(4, 6, dtype=torch.float64), torch.rand(4, 6, dtype=torch.float64) + 0.5
    y = mu + sigma * torch.randn(4, 6, dtype=torch.float64)
    t = StudentTHead(H).log_prob({"mu": mu, "sigma": sigma, "df": torch.full_like(mu, 1e7)}, y)
    g = GaussianHead(H).log_prob({"mu": mu, "sigma": sigma}, y)
    torch.testing.assert_close(t, g, rtol=1e-5, atol=1e-5)
