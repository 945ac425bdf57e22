"""ttal's own state in one SQLite database (WAL): messages, agents, the journal, the
queue, the watchdog's memory. Every SQL statement in ttal is in this package.
"""
