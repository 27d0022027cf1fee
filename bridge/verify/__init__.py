"""Verification: compare runtimes' outputs, chain the stages, name where parity breaks."""

from bridge.verify.compare import OutputParity, StageParity, Tolerances, compare_output, compare_outputs
from bridge.verify.harness import verify_artifacts

__all__ = ["OutputParity", "StageParity", "Tolerances", "compare_output", "compare_outputs", "verify_artifacts"]
