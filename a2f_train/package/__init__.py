"""Assemble trained networks into model packages in NVIDIA's layout."""
