"""Baseline systems that write valid m3t_bench submissions."""
