"""``tomllib`` (standard library from Python 3.11) or, on 3.10, ``tomli`` (the same parser)."""

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

__all__ = ["tomllib"]
