"""``python -m igcsearch``."""

from .cli import app

app(prog_name="igcsearch")
