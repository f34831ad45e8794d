"""Reproducible experiments behind numbers quoted in the documentation."""
