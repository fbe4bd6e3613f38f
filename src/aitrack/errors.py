"""Errors a user can act on. Every interface turns these into its own error form."""


class AitrackError(Exception):
    """A problem the user can fix; the message says what to do."""


class InvalidValue(AitrackError):
    """An argument outside its allowed values; nothing was written."""


class NotFound(AitrackError):
    """A session, run or other record that does not exist."""


class Conflict(AitrackError):
    """The request does not fit the current state (e.g. logging to an ended session)."""


class StoreError(AitrackError):
    """The database cannot be opened or used (corrupt, foreign, unreachable)."""
