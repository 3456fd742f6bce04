"""Training of the default networks (torch, imported lazily by each module)."""
