"""Shipped presets (TOML); installed as the package ``igcsearch.presets``."""
