"""The `flanlab` command: one module per subcommand, registered explicitly in `app.py`."""
