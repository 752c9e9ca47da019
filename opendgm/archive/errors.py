"""The one exception a user of the archive has to handle."""


class ArchiveError(Exception):
    """A campaign directory is missing, corrupt, locked by another writer, or was asked something
    inconsistent. The message says which, in words a user can act on."""
