"""PyTorch reference models for parity tests and benchmarks; jaxlens never imports them."""
