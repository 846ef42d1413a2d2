"""mailstack: a whole self-hosted mail infrastructure as code, from one description."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mailstack")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
