"""abawbench: score, check, train and compare for the ABAW challenges."""

__version__ = "0.1.0"
