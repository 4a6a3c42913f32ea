"""Figures of the workflow and the paper, one module per kind of figure, one shared style."""
