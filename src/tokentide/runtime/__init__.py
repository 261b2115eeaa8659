"""Runtime layer: runnables, composition, run context, sinks and event streams.

The public names live in :mod:`tokentide.runnables`; this package holds the implementation.
"""
