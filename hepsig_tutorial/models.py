"""Network architectures used in the book.

Only small, explicit architectures: each chapter says which one the paper used. Every classifier
here ends in a sigmoid, so its output ŷ ∈ (0, 1) can be used directly as the relaxed selection
of the significance losses (Chapter 3 onwards).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ._validate import choice, integer

__all__ = ["mlp", "count_parameters"]

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "elu": nn.ELU}


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
    width = integer("n_inputs", n_inputs, minimum=1)
    hidden = [integer("hidden", h, minimum=1) for h in hidden]
    choice("activation", activation, _ACTIVATIONS)
    choice("output", output, ("sigmoid", "linear"))
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width, h), _ACTIVATIONS[activation]()]
        width = h
    layers.append(nn.Linear(width, 1))
    if output == "sigmoid":
        layers.append(nn.Sigmoid())
    layers.append(nn.Flatten(0))  # (N, 1) -> (N,)
    return nn.Sequential(*layers)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
