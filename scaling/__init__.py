"""entropy-scaling: fit the entropy-performance law of RL runs and predict ceilings."""
__version__ = "0.1.0"
