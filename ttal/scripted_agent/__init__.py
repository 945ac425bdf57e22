"""A deterministic fake coding agent that follows a small YAML script: the demo's and
the tests' worker and review lead.
"""
