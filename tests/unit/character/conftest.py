from __future__ import annotations

import pytest

from a2f_train.character import Character, load_default_character


@pytest.fixture(scope="session")
def ada() -> Character:
    return load_default_character()
