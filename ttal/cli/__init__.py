"""The command line: the typer app, the fast path for hot commands, and rendering results
as text for people or JSON for scripts.
"""
