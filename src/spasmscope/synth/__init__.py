"""Synthetic infant videos with spasms and confounding movement, for demos, tests and pretraining."""

from spasmscope.synth.cohort import SynthConfig, generate, plan_cohort

__all__ = ["SynthConfig", "generate", "plan_cohort"]
