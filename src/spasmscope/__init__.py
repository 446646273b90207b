"""spasmscope: find infantile epileptic spasms in video."""

__version__ = "0.1.0"
