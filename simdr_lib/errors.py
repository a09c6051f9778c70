"""Error types. Every message is one line that names the file, key or record at fault.

The CLI and the pipeline catch :class:`SimdrError`, print ``error: <message>`` and exit 2,
so users never see a traceback wall for bad input.
"""

from __future__ import annotations


class SimdrError(Exception):
    """Base class for every error the user can fix (bad input, bad config, bad file)."""


class ConfigError(SimdrError):
    """Unknown key, wrong type or invalid value in a YAML config or an override."""


class DataError(SimdrError):
    """Missing/corrupt image, malformed annotation or detection file."""


class CheckpointError(SimdrError):
    """Missing, truncated or mismatched weights / checkpoint file."""


class ExportError(SimdrError):
    """Missing or inconsistent exported model directory."""


class TrainingError(SimdrError):
    """Training cannot continue (e.g. non-finite loss); the last good checkpoint is kept."""


class OutputError(SimdrError):
    """A file or folder cannot be written (disk full, file too large, read-only, no permission)."""
