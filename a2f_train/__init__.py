"""The project's own default assets: procedural character, synthetic corpus, evaluation, training.

Nothing here runs at serving time. It produces model packages in NVIDIA's layout (read by
``a2f_actors.model_package``) and scores any system's output with the lip-sync harness.
Heavy dependencies (torch, pocketsphinx) are imported lazily inside the functions that need them.
"""
