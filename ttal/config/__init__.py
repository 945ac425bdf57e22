"""ttal.yaml: the dataclasses it becomes, the parser that checks it, and loading it."""
