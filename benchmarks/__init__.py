"""Scripts that print figures: `python -m benchmarks.<name>` from the repository root."""
