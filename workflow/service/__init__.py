"""Use cases: load, decide, write and queue mail, each in one transaction."""
