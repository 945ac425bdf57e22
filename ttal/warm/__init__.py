"""The warm server and its client: a cache of imports that runs a command sooner.

Nothing depends on it for correctness: every command gives the same result without it.
"""
