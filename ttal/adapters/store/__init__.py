"""ttal's own state in one SQLite database (WAL): messages, agents, the journal, the
queue, the watchdog's memory, ttal's record of its own Taskwarrior writes. Every SQL
statement in ttal is in this package.
"""
