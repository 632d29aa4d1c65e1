"""The Model-as-Loss ablation: fine-tune one warm-up many ways, score every branch, select on valid.

Run it as ``python -m bench.ablation`` from the repository root (options: bench.ablation.cli).
Modules: configs (branch configs), sweep (the sweep file and its rows), grad_ratio (the
``equal`` weight), runner (train, enhance, score; cached), report (tables, selection, plot),
cli (command line and ``--jobs`` workers).
"""
