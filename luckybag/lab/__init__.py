"""Experiment tooling: the grid, experiment rows and reports, git and DVC helpers."""
