"""Forecast profiles and forecast-error sampling."""

from vppsim.forecast.errors import draw_relative_error

__all__ = ["draw_relative_error"]
