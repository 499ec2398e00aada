"""DeepAR likelihood heads: hidden states -> distribution parameters, log-density and sampling.

Salinas, Flunkert, Gasthaus & Januschowski 2020, "DeepAR: probabilistic forecasting with
autoregressive recurrent networks" (IJF 36(3)). The network reads each series divided by a
per-series scale ν and emits parameters in those scaled units; the head maps them back:

- Gaussian:  μ = ν·μ̃,  σ = ν·softplus(σ̃);
- Student-t: μ = ν·μ̃,  σ = ν·softplus(σ̃),  degrees of freedom 2 + softplus(ñ) (finite
  variance, as GluonTS does);
- negative binomial (counts): μ = ν·softplus(μ̃),  α = softplus(α̃)/√ν, the paper's rule, with
  variance μ + αμ².

So log-densities, samples and means are in the series' own units. Positive parameters get a
floor of ``MIN_POSITIVE`` beyond the softplus so that a saturated unit cannot give σ = 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

__all__ = [
    "LIKELIHOODS",
    "GaussianHead",
    "LikelihoodHead",
    "NegativeBinomialHead",
    "StudentTHead",
    "make_head",
    "mean_scale",
]

MIN_POSITIVE = 1e-6

Params = dict[str, Tensor]


def mean_scale(
    values: Tensor, mask: Tensor | None = None, plus_one: bool = False, minimum: float = 1e-8
) -> Tensor:
    """DeepAR's per-series scale ν from the conditioning range, shape (B, 1).

    ν = mean |z| over the observed steps (GluonTS's MeanScaler, right for real values of
    either sign); ``plus_one`` gives the paper's count rule ν = 1 + mean z (for counts,
    z >= 0). A series with no observed step or only zeros gets ``minimum`` (or 1 with
    ``plus_one``), so dividing by ν is always safe.

    Args:
        values: the conditioning range, shape (B, T).
        mask: (B, T), true (or 1) where a value is observed; None for all.
        plus_one: use 1 + mean z instead of mean |z|.
        minimum: the floor of the scale without ``plus_one``.

    Returns:
        ν, shape (B, 1), to divide the inputs by and to pass to the head.
    """
    if values.ndim != 2:
        raise ValueError(f"values has shape {tuple(values.shape)}; pass (B, T)")
    w = torch.ones_like(values) if mask is None else mask.to(values.dtype)
    total = (values.abs() * w).sum(1, keepdim=True)  # (B, 1)
    count = w.sum(1, keepdim=True).clamp_min(1.0)
    if plus_one:
        return 1.0 + total / count
    return (total / count).clamp_min(minimum)


def _positive(x: Tensor) -> Tensor:
    return softplus(x) + MIN_POSITIVE


def _broadcast_scale(scale: Tensor | float | None, like: Tensor) -> Tensor:
    """The scale as a tensor broadcasting against (B, T): a float, (B,), (B, 1) or (B, T)."""
    if scale is None:
        return torch.ones((), dtype=like.dtype, device=like.device)
    s = torch.as_tensor(scale, dtype=like.dtype, device=like.device)
    if s.ndim == 1:
        s = s[:, None]  # (B, 1)
    if torch.any(s <= 0):
        raise ValueError("scale must be positive everywhere; floor it (see mean_scale)")
    return s


class LikelihoodHead(nn.Module):
    """A linear map from hidden states (B, T, H) to a distribution's parameters, each (B, T).

    Subclasses give ``param_names``, the transform to data units (``_params``), the
    log-density (``log_prob``), the torch distribution for sampling and the mean.

    Args:
        hidden_size: H, the width of the LSTM outputs.
    """

    param_names: tuple[str, ...] = ()

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden_size, len(self.param_names))

    def forward(self, hidden: Tensor, scale: Tensor | float | None = None) -> Params:
        """Parameters in the series' units.

        Args:
            hidden: (B, T, H) LSTM outputs (or (B, H) for one step).
            scale: ν per series: a float, (B,), (B, 1) or (B, T); None for 1.

        Returns:
            A dict name -> tensor of shape (B, T) (or (B,) for one step).
        """
        raw = self.proj(hidden)  # (B, T, P)
        s = _broadcast_scale(scale, raw[..., 0])
        if raw.ndim == 2 and s.ndim == 2:
            s = s[:, 0]  # one step: (B,)
        return self._params(raw.unbind(-1), s)

    def _params(self, raw: tuple[Tensor, ...], scale: Tensor) -> Params:
        raise NotImplementedError

    def log_prob(self, params: Params, y: Tensor) -> Tensor:
        """Log-density (or log-probability for counts) of y, same shape as each parameter."""
        raise NotImplementedError

    def distribution(self, params: Params) -> torch.distributions.Distribution:
        """The matching torch distribution (for sampling; not used for the loss)."""
        raise NotImplementedError

    def mean(self, params: Params) -> Tensor:
        """The distribution's mean, the point forecast, same shape as each parameter."""
        return params["mu"]

    def nll(self, params: Params, y: Tensor, mask: Tensor | None = None) -> Tensor:
        """Mean negative log-likelihood over the observed points, a scalar to minimise.

        Args:
            params: from ``forward``, each (B, T).
            y: targets in the series' units, (B, T).
            mask: (B, T), true (or 1) where y is observed and counts; None for all.
        """
        lp = self.log_prob(params, y)
        if mask is None:
            return -lp.mean()
        w = mask.to(lp.dtype)
        return -(lp * w).sum() / w.sum().clamp_min(1.0)

    def sample(
        self,
        params: Params,
        num_samples: int | None = None,
        seed: int | torch.Generator | None = None,
    ) -> Tensor:
        """Draws from the distribution, reproducible for a given seed.

        Args:
            params: from ``forward``, each of shape S (e.g. (B, T) or (B,)).
            num_samples: N draws, giving shape (N, *S); None for one draw of shape S.
            seed: an int, or a torch.Generator whose next value seeds the draw (so a loop of
                ancestral-sampling steps is reproducible from one generator); None uses the
                global generator. A seeded draw leaves the global generator untouched.

        Returns:
            Samples in the series' units (non-negative integers as floats for counts).
        """
        shape = torch.Size(() if num_samples is None else (num_samples,))
        dist = self.distribution(params)
        if seed is None:
            return dist.sample(shape)
        if isinstance(seed, torch.Generator):
            seed = int(torch.randint(0, 2**62, (1,), generator=seed).item())
        device = next(iter(params.values())).device
        kind = None if device.type == "cpu" else device.type  # the CPU state is always forked
        index = device.index
        if kind is not None and index is None:
            index = torch.get_device_module(kind).current_device()
        devices = [] if kind is None else [index]
        with torch.random.fork_rng(devices=devices, device_type=kind):
            torch.manual_seed(seed)
            return dist.sample(shape)


class GaussianHead(LikelihoodHead):
    """Normal(μ, σ): μ = ν·μ̃, σ = ν·softplus(σ̃). See `LikelihoodHead` for shapes."""

    param_names = ("mu", "sigma")

    def _params(self, raw: tuple[Tensor, ...], scale: Tensor) -> Params:
        mu, sigma = raw
        return {"mu": mu * scale, "sigma": _positive(sigma) * scale}

    def log_prob(self, params: Params, y: Tensor) -> Tensor:
        z = (y - params["mu"]) / params["sigma"]
        return -0.5 * z**2 - params["sigma"].log() - 0.5 * math.log(2 * math.pi)

    def distribution(self, params: Params) -> torch.distributions.Distribution:
        return torch.distributions.Normal(params["mu"], params["sigma"], validate_args=False)


class StudentTHead(LikelihoodHead):
    """Student-t(ν_df, μ, σ), heavy tails: df = 2 + softplus(ñ) > 2, μ and σ as Gaussian."""

    param_names = ("mu", "sigma", "df")

    def _params(self, raw: tuple[Tensor, ...], scale: Tensor) -> Params:
        mu, sigma, df = raw
        return {"mu": mu * scale, "sigma": _positive(sigma) * scale, "df": 2.0 + softplus(df)}

    def log_prob(self, params: Params, y: Tensor) -> Tensor:
        df, sigma = params["df"], params["sigma"]
        z = (y - params["mu"]) / sigma
        norm = torch.lgamma((df + 1) / 2) - torch.lgamma(df / 2) - 0.5 * torch.log(df * math.pi)
        return norm - sigma.log() - (df + 1) / 2 * torch.log1p(z**2 / df)

    def distribution(self, params: Params) -> torch.distributions.Distribution:
        return torch.distributions.StudentT(
            params["df"], params["mu"], params["sigma"], validate_args=False
        )


class NegativeBinomialHead(LikelihoodHead):
    """Negative binomial for counts, mean μ and shape α (variance μ + αμ²), DeepAR's form.

    μ = ν·softplus(μ̃) and α = softplus(α̃)/√ν. In torch's terms it is
    NegativeBinomial(total_count = 1/α, logits = log(αμ)). Targets must be counts (y >= 0);
    use ``mean_scale(..., plus_one=True)`` for ν as the paper does.
    """

    param_names = ("mu", "alpha")

    def _params(self, raw: tuple[Tensor, ...], scale: Tensor) -> Params:
        mu, alpha = raw
        return {"mu": _positive(mu) * scale, "alpha": _positive(alpha) / scale.sqrt()}

    def log_prob(self, params: Params, y: Tensor) -> Tensor:
        mu, alpha = params["mu"], params["alpha"]
        r = 1.0 / alpha
        log_odds = torch.log(alpha * mu)  # log(αμ), so log p(success) - log p(failure)
        # log C(y + r - 1, y) + r log(1 / (1 + αμ)) + y log(αμ / (1 + αμ))
        comb = torch.lgamma(y + r) - torch.lgamma(y + 1) - torch.lgamma(r)
        return comb - (r + y) * softplus(log_odds) + y * log_odds

    def distribution(self, params: Params) -> torch.distributions.Distribution:
        mu, alpha = params["mu"], params["alpha"]
        return torch.distributions.NegativeBinomial(
            total_count=1.0 / alpha, logits=torch.log(alpha * mu), validate_args=False
        )


LIKELIHOODS: dict[str, type[LikelihoodHead]] = {
    "gaussian": GaussianHead,
    "student_t": StudentTHead,
    "negative_binomial": NegativeBinomialHead,
}


def make_head(name: str, hidden_size: int) -> LikelihoodHead:
    """The head named ``name`` (a key of LIKELIHOODS) over hidden states of width hidden_size."""
    if name not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {sorted(LIKELIHOODS)}, got {name!r}")
    return LIKELIHOODS[name](hidden_size)
