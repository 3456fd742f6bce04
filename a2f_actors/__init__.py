"""Pure compute of the a2f-cluster pipeline."""
