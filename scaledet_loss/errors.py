"""Exception types raised by :mod:`scaledet_loss`.

Every input mistake raises a subclass of :class:`ScaleDetLossError`, itself a
:class:`ValueError`; errors about the *kind* of an input (a float tensor where integers are
needed, a list where a tensor is needed) are also :class:`TypeError`. Each message names the
argument and says what would be accepted.
"""

from __future__ import annotations

__all__ = [
    "DeviceMismatchError",
    "InputShapeError",
    "InputTypeError",
    "NonFiniteInputError",
    "ScaleDetLossError",
]


class ScaleDetLossError(ValueError):
    """Base class of every error raised on purpose by :mod:`scaledet_loss`."""


class InputShapeError(ScaleDetLossError):
    """A tensor has the wrong number of dimensions or a size that disagrees with another."""


class InputTypeError(ScaleDetLossError, TypeError):
    """An argument of the wrong Python type or dtype (e.g. float targets, a bool tau)."""


class NonFiniteInputError(ScaleDetLossError):
    """A tensor holds NaN or infinite values (checked when ``check_finite=True``)."""


class DeviceMismatchError(ScaleDetLossError):
    """Tensors that must live together are on different devices or have different dtypes."""
