"""Placeholder, replaced in this change."""

import typer

app = typer.Typer()
