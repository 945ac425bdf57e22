"""Forges that hold a project's pull requests, each behind one small interface (base.py):
GitHub through the `gh` program (github.py). A Forgejo (`tea`) or GitLab (`glab`) adapter
is one more file here."""
