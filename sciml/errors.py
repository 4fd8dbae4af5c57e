"""The two errors a user sees as one line (``sciml VERB: error: ...``) instead of a traceback.

They live apart from the modules that raise them so that the command line can catch them without importing
torch or xarray (``sciml --help`` stays instant).
"""


class ConfigError(ValueError):
    """A configuration that cannot be run; raised before any job starts."""


class ResultFileError(RuntimeError):
    """A result file is missing, truncated or not what the contract says."""
