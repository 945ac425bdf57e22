"""One module per command: options in, a typed result out. No parsing, no printing."""
