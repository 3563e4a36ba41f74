"""Benchmarks run on demand (`make bench`); see DESIGN.md, section "Benchmarks"."""
