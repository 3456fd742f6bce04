"""Template of the Python-backend model copied into each CPU Triton model (``1/model.py``)."""
