"""The one exception family sparsesim raises for bad input.

Every error a caller can provoke with bad data, a bad spec or a bad file is a
:class:`SparsesimError`; the subclasses say which kind of input was wrong.  The
message always names what was wrong and what was expected.
"""


class SparsesimError(Exception):
    """Base class of every error sparsesim raises for bad input."""


class PatternError(SparsesimError, ValueError):
    """A sparsity pattern spec ("dense", "N:M", "unstructured") is invalid."""


class FormatError(SparsesimError, ValueError):
    """An array or encoded word does not fit the sparse format asked for."""


class ConfigError(SparsesimError, ValueError):
    """An architecture/workload config file is malformed (names file, key, expected type)."""


class InputError(SparsesimError, ValueError):
    """An argument (array dtype, shape, value) is outside what the function accepts."""


class LimitError(InputError):
    """A request is larger than a documented resource limit (docs/limits.md); the
    message names the limit and, where there is one, the argument that raises it."""


class FileError(SparsesimError, OSError):
    """A file or directory the caller named cannot be read or written (names the path)."""
