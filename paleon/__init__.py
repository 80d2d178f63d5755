"""Paleon: fossil identification on Ray Serve. This package is the foundation every other
one builds on (errors, logging, the Redis keyspace); `paleon.tools` sits on top of them all."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("paleon")  # pyproject.toml is the one source
except PackageNotFoundError:  # a checkout used without installing it
    __version__ = "0+unknown"
