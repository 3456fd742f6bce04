"""Synthetic, phoneme-aligned speech corpus for training the default networks.

Data flow (one module per stage)::

    sentences.py   phonetically rich sentence list, split by sentence
      -> tts_espeak.py / tts_flite.py   speech + exact phone times (16 kHz)
      -> tts_piper.py  neural speech (piper subprocess) + pocketsphinx-aligned phone times
      -> phonemes.py   common phone inventory -> visemes
      -> curves.py     dominance-model coarticulation -> 68 weights at 30/60 fps
      -> expression.py emotion offsets, prosody, blinks, eye saccades
      -> augment.py    noisy/reverberant/band-limited copies
      -> clipgen.py    one clip: WAV + npz targets (atomic)
      -> build.py      seeded, resumable, parallel builder + manifest (``a2f data build``)
      -> targets.py    character geometry targets + PCA (NVIDIA model_data layout)

The package root imports nothing heavy; import the stage modules directly.
"""

__all__: list[str] = []
