"""Flow layers written as :class:`normflows.flows.Flow` subclasses.

normflows' convention: ``inverse(x, context)`` maps data to latent space and
returns ``log |det dz/dx|``; ``forward(z, context)`` maps latent to data and
returns ``log |det dx/dz|``. ``ConditionalNormalizingFlow.log_prob`` calls
``inverse``, so the density direction must be the single-pass one.

normflows' own ``MaskedAffineAutoregressive`` evaluates densities with its
sequential ``inverse`` (one MADE pass per feature) through a residual MADE with
gated context; :class:`MaskedAffineFlow` here is the published ANODE/CATHODE
layer instead: one MADE pass for the density, context concatenated to the
input, two hidden layers.
"""

import normflows as nf
import torch
from torch import nn
from torch.nn import functional as F

from skranode.flows._spline import AutoregressiveSplineFlow

__all__ = ["MADE", "MaskedAffineFlow", "BatchNormFlow"]


def _hidden_degrees(n_hidden, n_features):
    # Degrees 0..D-1. Units of degree 0 see only the context, so that the
    # parameters of the first feature depend on the context too (in the
    # published MADE they are bare biases: the first feature of every layer,
    # and a one-dimensional flow as a whole, ignored the condition).
    return torch.arange(n_hidden) % n_features


class MADE(nn.Module):
    """Masked autoencoder for distribution estimation with a context input.

    Output ``j`` of each parameter group depends only on features ``< j``
    (in the input order) and on all context variables, including ``j = 0``.

    Parameters
    ----------
    n_features : int
        Number of autoregressive features.
    n_context : int
        Number of context (conditioning) variables; 0 for none.
    n_hidden : int
        Width of the hidden layers.
    n_hidden_layers : int
        Number of hidden layers (the published MADE has 2).
    n_params : int
        Parameters per feature in the output.
    """

    def __init__(self, n_features, n_context, n_hidden, n_hidden_layers=2, n_params=2):
        super().__init__()
        self.n_features = n_features
        self.n_params = n_params
        deg_in = torch.arange(1, n_features + 1)
        degrees = [torch.cat([deg_in, torch.zeros(n_context, dtype=torch.long)])]
        sizes = [n_features + n_context]
        for _ in range(n_hidden_layers):
            degrees.append(_hidden_degrees(n_hidden, n_features))
            sizes.append(n_hidden)
        self.layers = nn.ModuleList()
        for k in range(n_hidden_layers):
            layer = nn.Linear(sizes[k], sizes[k + 1])
            self.register_buffer(
                f"mask{k}", (degrees[k + 1][:, None] >= degrees[k][None, :]).float()
            )
            self.layers.append(layer)
        deg_out = deg_in.repeat(n_params)
        self.output = nn.Linear(sizes[-1], n_features * n_params)
        self.register_buffer("mask_out", (deg_out[:, None] > degrees[-1][None, :]).float())
        # start close to the identity transform
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, x, context=None):
        h = x if context is None else torch.cat([x, context], dim=1)
        for k, layer in enumerate(self.layers):
            h = F.relu(F.linear(h, layer.weight * getattr(self, f"mask{k}"), layer.bias))
        return F.linear(h, self.output.weight * self.mask_out, self.output.bias)


class MaskedAffineFlow(nf.flows.Flow):
    """Masked affine autoregressive layer (MAF) with a single-pass density.

    Data to latent: ``z = x * exp(s(x_<, c)) + t(x_<, c)``, with the log-scale
    softly bounded to ``(-scale_bound, scale_bound)`` for numerical safety.

    Parameters
    ----------
    n_features : int
        Dimension of the data.
    n_context : int
        Number of context variables.
    n_hidden : int, default=128
        Width of the MADE hidden layers.
    n_hidden_layers : int, default=2
        Number of MADE hidden layers.
    scale_bound : float, default=5.0
        Soft bound on the per-layer log-scale.
    low_precision : bool, default=False
        Run the MADE's matrix products in bfloat16 (autocast). Its outputs are
        cast back to float32 before the transform, so the log-determinant is
        exactly that of the transform applied and the density stays normalised;
        only the conditioner network is less precise. About twice as fast on
        CPUs with bfloat16 units.
    """

    def __init__(
        self,
        n_features,
        n_context,
        n_hidden=128,
        n_hidden_layers=2,
        scale_bound=5.0,
        low_precision=False,
    ):
        super().__init__()
        self.n_features = n_features
        self.scale_bound = float(scale_bound)
        self.low_precision = bool(low_precision)
        self.made = MADE(n_features, n_context, n_hidden, n_hidden_layers, n_params=2)

    def _shift_log_scale(self, x, context):
        if self.low_precision:
            with torch.autocast(x.device.type, dtype=torch.bfloat16):
                params = self.made(x, context)
            params = params.to(x.dtype)
        else:
            params = self.made(x, context)
        raw_scale, shift = params[:, : self.n_features], params[:, self.n_features :]
        log_scale = self.scale_bound * torch.tanh(raw_scale / self.scale_bound)
        return shift, log_scale

    def inverse(self, x, context=None):
        shift, log_scale = self._shift_log_scale(x, context)
        return x * torch.exp(log_scale) + shift, log_scale.sum(dim=1)

    def forward(self, z, context=None):
        x = torch.zeros_like(z)
        for _ in range(self.n_features):
            shift, log_scale = self._shift_log_scale(x, context)
            x = (z - shift) * torch.exp(-log_scale)
        return x, -log_scale.sum(dim=1)


class BatchNormFlow(nf.flows.Flow):
    """Batch normalisation as an invertible layer with running statistics.

    In training mode the data-to-latent map uses the batch mean and variance
    (and updates the running estimates); in evaluation mode it uses the running
    estimates, so the density is a fixed function of the data.

    Parameters
    ----------
    n_features : int
        Dimension of the data.
    momentum : float, default=0.1
        Weight of the newest batch in the running estimates.
    eps : float, default=1e-5
        Added to the variance.
    """

    def __init__(self, n_features, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum = momentum
        self.eps = eps
        self.log_gamma = nn.Parameter(torch.zeros(n_features))
        self.beta = nn.Parameter(torch.zeros(n_features))
        self.register_buffer("running_mean", torch.zeros(n_features))
        self.register_buffer("running_var", torch.ones(n_features))

    def inverse(self, x, context=None):
        if self.training:
            mean = x.mean(dim=0)
            var = x.var(dim=0, unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var, self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        log_std = 0.5 * torch.log(var + self.eps)
        z = (x - mean) * torch.exp(self.log_gamma - log_std) + self.beta
        log_det = (self.log_gamma - log_std).sum().expand(x.shape[0])
        return z, log_det

    def forward(self, z, context=None):
        log_std = 0.5 * torch.log(self.running_var + self.eps)
        x = (z - self.beta) * torch.exp(log_std - self.log_gamma) + self.running_mean
        log_det = (log_std - self.log_gamma).sum().expand(z.shape[0])
        return x, log_det


def build_flow(
    kind,
    n_features,
    n_context,
    *,
    n_layers,
    n_hidden,
    n_hidden_layers=2,
    batch_norm=True,
    n_bins=8,
    tail_bound=3.0,
    low_precision=False,
):
    """Build a conditional normflows model.

    Parameters
    ----------
    kind : {'maf', 'rqs'}
        Masked affine autoregressive flow (:class:`MaskedAffineFlow` layers) or
        autoregressive rational-quadratic spline layers
        (:class:`~skranode.flows.AutoregressiveSplineFlow`, normflows'
        layer with a faster spline).
    n_features, n_context : int
        Data and context dimensions.
    n_layers : int
        Number of autoregressive layers.
    n_hidden : int
        Width of the hidden layers.
    n_hidden_layers : int, default=2
        MADE hidden layers (``'maf'``) or residual blocks (``'rqs'``).
    batch_norm : bool, default=True
        Put a :class:`BatchNormFlow` after each autoregressive layer.
    n_bins : int, default=8
        Spline bins (``'rqs'``).
    tail_bound : float, default=3.0
        The spline acts on ``[-tail_bound, tail_bound]`` and is the identity
        outside (``'rqs'``).
    low_precision : bool, default=False
        bfloat16 matrix products in the MAF conditioners (``'maf'`` only; see
        :class:`MaskedAffineFlow`).

    Returns
    -------
    flow : normflows.ConditionalNormalizingFlow
    """
    layers = []
    for i in range(n_layers):
        if kind == "maf":
            layers.append(
                MaskedAffineFlow(
                    n_features, n_context, n_hidden, n_hidden_layers, low_precision=low_precision
                )
            )
        elif kind == "rqs":
            layers.append(
                AutoregressiveSplineFlow(
                    n_features,
                    n_hidden_layers,
                    n_hidden,
                    n_context=n_context or None,
                    n_bins=n_bins,
                    tail_bound=tail_bound,
                )
            )
        else:
            raise ValueError(f"Unknown flow {kind!r}; use 'maf' or 'rqs'.")
        if batch_norm:
            layers.append(BatchNormFlow(n_features))
        if n_features > 1 and i < n_layers - 1:
            layers.append(nf.flows.Permute(n_features, mode="swap"))
    base = nf.distributions.DiagGaussian(n_features, trainable=False)
    return nf.ConditionalNormalizingFlow(base, layers)
