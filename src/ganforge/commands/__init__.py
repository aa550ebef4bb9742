"""Subcommands of the ganforge CLI, one module each."""
