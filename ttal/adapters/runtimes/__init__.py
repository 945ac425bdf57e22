"""Agent runtimes: the command line that launches, resumes or forks an agent, and the
files Claude Code and Codex need beside it.
"""
