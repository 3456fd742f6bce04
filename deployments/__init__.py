"""Ray Serve deployments of the a2f-cluster pipeline."""
