"""Fuzzing with atheris: the targets (targets.py), their seed corpus (seeds.py,
corpus/), the runner (``python -m tests.fuzz TARGET``), and the crashers kept as
regression inputs (crashers/). docs/FUZZING.md has the figures and commands."""
