"""Riposte's data contracts: pydantic models that cross process and workflow boundaries.

Every module here is deterministic and I/O-free, so workflow code may import it
(passed through the sandbox). Fields may be added; none may be renamed or removed
without a migration, because running workflows carry them in their histories.
"""
