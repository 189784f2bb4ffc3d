"""m3t_bench: benchmark, evaluation toolkit and M3T reference implementation for 3D sign language production."""

__version__ = "0.1.0"
