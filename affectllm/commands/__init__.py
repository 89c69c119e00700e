"""Subcommands of the `affectllm` CLI that belong to the core package."""
