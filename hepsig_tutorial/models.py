"""Network architectures used in the book.

Only small, explicit architectures: each chapter says which one the paper used. Every classifier
here ends in a sigmoid, so its output ŷ ∈ (0, 1) can be used directly as the relaxed selection
of the significance losses (Chapter 3 onwards).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["mlp", "count_parameters"]

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "elu": nn.ELU}


class _Squeeze(nn.Module):
    def forward(self, x):  # (N, 1) -> (N,)
        return x.squeeze(-1)


def mlp(n_inputs: int, hidden: Sequence[int] = (8, 4), activation: str = "tanh", output: str = "sigmoid") -> nn.Sequential:
    """A fully connected classifier ``n_inputs → hidden… → 1``.

    ``mlp(4, (8, 4), "tanh")`` is the Punzi-net of punzi-loss.txt (Sec. 4: 4-8-4-1, tanh hidden,
    sigmoid output); ``mlp(n, ())`` is a linear model with a sigmoid (logistic regression), as in the
    Lovász-Z toy study.

    Parameters
    ----------
    n_inputs : int
        Number of input features (> 0).
    hidden : sequence of int
        Width of each hidden layer (may be empty).
    activation : {"tanh", "relu", "sigmoid", "elu"}
        Hidden-layer activation.
    output : {"sigmoid", "linear"}
        ``"sigmoid"`` returns probabilities ŷ ∈ (0, 1); ``"linear"`` returns raw scores (logits).

    Returns
    -------
    torch.nn.Sequential
        Maps ``(N, n_inputs)`` to ``(N,)``.
    """
    if int(n_inputs) != n_inputs or n_inputs < 1:
        raise ValueError(f"n_inputs must be a positive integer, got {n_inputs!r}")
    if any(int(h) != h or h < 1 for h in hidden):
        raise ValueError(f"hidden must be positive integers, got {hidden!r}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if output not in ("sigmoid", "linear"):
        raise ValueError(f"output must be 'sigmoid' or 'linear', got {output!r}")
    layers: list[nn.Module] = []
    width = int(n_inputs)
    for h in hidden:
        layers += [nn.Linear(width, int(h)), _ACTIVATIONS[activation]()]
        width = int(h)
    layers.append(nn.Linear(width, 1))
    if output == "sigmoid":
        layers.append(nn.Sigmoid())
    layers.append(_Squeeze())
    return nn.Sequential(*layers)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
