"""What each metric is: its direction and range, for reports and comparisons.

``register_metric`` records a ``MetricInfo`` under a short key ("ece", "auroc", ...) and
returns the function unchanged; ``metric_info`` looks it up by key or by function.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class MetricInfo:
    """Direction and range of one metric.

    ``higher_is_better``: True (``*_score``), False (``*_error``/``*_loss``), or None for a
    signed metric whose best value is 0 (NCE, mean gap) or one with no preferred direction
    (JSD). ``low``/``high``: the range (``-inf``/``inf`` when unbounded). ``label``: a short
    display name ("ECE"). ``arguments``: the names of its data arguments, in order
    (``("confidence", "correct")``, ``("verbalized", "internal")``, ``("probs", "labels")``,
    ``("p", "q")``), read from the function's signature.
    """

    key: str
    label: str
    higher_is_better: bool | None
    low: float
    high: float
    description: str
    arguments: tuple[str, ...] = ()

    @property
    def arrow(self) -> str:
        """ "↑", "↓" or "→0" for axis labels and tables."""
        if self.higher_is_better is None:
            return "→0"
        return "↑" if self.higher_is_better else "↓"


_BY_KEY: dict[str, MetricInfo] = {}
_BY_FUNCTION: dict[Callable[..., Any], MetricInfo] = {}

#: Read-only view of every registered metric, by key.
METRICS: Mapping[str, MetricInfo] = MappingProxyType(_BY_KEY)


def register_metric(
    key: str,
    *,
    label: str,
    higher_is_better: bool | None,
    low: float = 0.0,
    high: float = 1.0,
    description: str = "",
) -> Callable[[F], F]:
    """Decorator recording a ``MetricInfo`` for the function under ``key``."""

    def decorator(function: F) -> F:
        if key in _BY_KEY:
            raise ValueError(f"metric {key!r} is already registered")
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        arguments = tuple(
            name
            for name, parameter in inspect.signature(function).parameters.items()
            if parameter.kind in positional
        )
        info = MetricInfo(key, label, higher_is_better, low, high, description, arguments)
        _BY_KEY[key] = info
        _BY_FUNCTION[function] = info
        return function

    return decorator


def metric_info(metric: str | Callable[..., Any]) -> MetricInfo:
    """The ``MetricInfo`` of a metric key ("ece") or function (``expected_calibration_error``).

    An unknown key raises ``KeyError`` listing the known keys and the closest one.
    """
    if callable(metric):
        try:
            return _BY_FUNCTION[metric]
        except KeyError:
            name = getattr(metric, "__name__", repr(metric))
            raise KeyError(f"{name} is not a registered metric") from None
    try:
        return _BY_KEY[metric]
    except KeyError:
        known = sorted(_BY_KEY)
        close = difflib.get_close_matches(metric, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown metric {metric!r}.{hint} Known: {', '.join(known)}") from None
