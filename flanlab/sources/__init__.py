"""Sources yield raw records; every loader returns records grouped by split."""
