"""Pure decisions: the pipeline, tag rules, plans, prompts and the watchdog's verdicts.

No subprocess, no file, no clock it is not handed: everything here is a function of its
arguments, tested without Taskwarrior, git or tmux. Imports nothing of ttal but errors.
"""
