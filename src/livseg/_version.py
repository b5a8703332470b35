"""The package version, in a module of its own: any module may import it without
importing the package root (which would make a circle)."""
__version__ = "0.1.0"
