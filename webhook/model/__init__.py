"""Plain data: the rules model, the admission wire format, and decisions.

Nothing here performs I/O; every other layer builds on these types.
"""
