"""flanlab: instruction tuning the way the FLAN papers describe it, end to end."""

__version__ = "0.1.0"
