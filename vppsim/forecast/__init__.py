"""Forecast profiles and forecast-error sampling."""

from vppsim.forecast.errors import draw_relative_error, errors_from_scores
from vppsim.forecast.uncertainty import (
    ErrorLayout,
    correlation_matrix,
    sample_gaussian_scores,
    sample_relative_errors,
)

__all__ = [
    "ErrorLayout",
    "correlation_matrix",
    "draw_relative_error",
    "errors_from_scores",
    "sample_gaussian_scores",
    "sample_relative_errors",
]
