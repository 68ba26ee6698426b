"""The project's exceptions. Messages say what was expected, what was got, and where."""


class GnesfError(Exception):
    """Base class of every error raised on purpose by gnesf_ros."""


class ConfigError(GnesfError, ValueError):
    """A configuration value or file is invalid (unknown key, wrong type, out of range)."""


class InputError(GnesfError, ValueError):
    """An input (frame, image, pose, tensor) has the wrong shape, dtype, encoding or values."""


class MapFileError(GnesfError, IOError):
    """A saved map or checkpoint file is missing, truncated, corrupt or from another program/version."""


class DataError(GnesfError, IOError):
    """A data set, scan folder or bag cannot be read as expected."""


class DemoError(GnesfError):
    """The one-command demo (`gnesf-demo`) cannot go on; the message says what to do."""
