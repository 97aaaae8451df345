"""Placeholder: replaced by the module that implements this stage."""

import typer

app = typer.Typer()
