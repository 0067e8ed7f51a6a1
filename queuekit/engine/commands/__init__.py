"""Command handlers, one module per data type like Redis's t_*.c files.

Each module exports `COMMANDS`, a tuple of table rows; `engine/table.py`
assembles them. A handler's docstring opens with the command's syntax.
"""
