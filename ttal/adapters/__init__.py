"""The outside world, each tool behind one module: proc (every subprocess), Taskwarrior,
git, tmux, the agent runtimes, the hooks ttal installs into Taskwarrior, and store/ (ttal's
SQLite database, where all SQL lives). Adapters know no command and no plan.
"""
