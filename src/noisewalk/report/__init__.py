"""Plots of noise measurements, and the HTML report of studies."""
