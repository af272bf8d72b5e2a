"""The ``key-quarantine`` command."""
