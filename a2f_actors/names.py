"""Names and orders fixed by NVIDIA's formats (a2f_reference.md sections 1.3, 2.6, 2.7).

Every array in the project that is indexed by blendshape or emotion uses these orders.
"""

from __future__ import annotations

#: The 52 ARKit skin blendshapes then the 16 tongue blendshapes, in the NIM output order
#: (UpperCamel, as the gRPC header lists them).
SKIN_BLENDSHAPES: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft",
    "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight",
    "JawForward", "JawLeft", "JawRight", "JawOpen",
    "MouthClose", "MouthFunnel", "MouthPucker", "MouthLeft", "MouthRight",
    "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper",
    "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight",
    "MouthUpperUpLeft", "MouthUpperUpRight",
    "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight",
    "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight",
    "TongueOut",
)  # fmt: skip

TONGUE_BLENDSHAPES: tuple[str, ...] = (
    "TongueTipUp", "TongueTipDown", "TongueTipLeft", "TongueTipRight",
    "TongueRollUp", "TongueRollDown", "TongueRollLeft", "TongueRollRight",
    "TongueUp", "TongueDown", "TongueLeft", "TongueRight",
    "TongueIn", "TongueStretch", "TongueWide", "TongueNarrow",
)  # fmt: skip

BLENDSHAPES: tuple[str, ...] = SKIN_BLENDSHAPES + TONGUE_BLENDSHAPES
NUM_SKIN_BLENDSHAPES = 52
NUM_TONGUE_BLENDSHAPES = 16
NUM_BLENDSHAPES = 68

#: The 10 explicit A2F emotions, in network_info.json order (`explicit_emotions`).
A2F_EMOTIONS: tuple[str, ...] = (
    "amazement", "anger", "cheekiness", "disgust", "fear",
    "grief", "joy", "outofbreath", "pain", "sadness",
)  # fmt: skip
NUM_A2F_EMOTIONS = 10
#: Implicit emotion vector length of the regression network (`implicit_emotion_len`).
NUM_IMPLICIT_EMOTIONS = 16

#: The 6 Audio2Emotion classifier outputs, in logit order.
A2E_EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad")
NUM_A2E_EMOTIONS = 6

#: NIM 2.0 stylization default symmetry pair ids per skin shape (-1 = none), section 2.6.
DEFAULT_SYMMETRY_IDS: dict[str, int] = {
    "EyeBlinkLeft": 0, "EyeBlinkRight": 0, "EyeWideLeft": 1, "EyeWideRight": 1,
    "MouthSmileLeft": 2, "MouthSmileRight": 2, "MouthFrownLeft": 3, "MouthFrownRight": 3,
    "MouthDimpleLeft": 4, "MouthDimpleRight": 4, "MouthStretchLeft": 5, "MouthStretchRight": 5,
    "MouthPressLeft": 6, "MouthPressRight": 6, "MouthLowerDownLeft": 7, "MouthLowerDownRight": 7,
    "MouthUpperUpLeft": 8, "MouthUpperUpRight": 8, "BrowOuterUpLeft": 9, "BrowOuterUpRight": 9,
    "BrowDownLeft": 10, "BrowDownRight": 10, "CheekSquintLeft": 11, "CheekSquintRight": 11,
    "NoseSneerLeft": 12, "NoseSneerRight": 12,
}  # fmt: skip

#: Skin shapes inactive in the NIM 2.0 default solve (eye look shapes and TongueOut).
DEFAULT_INACTIVE_SKIN: frozenset[str] = frozenset(
    [n for n in SKIN_BLENDSHAPES if n.startswith("EyeLook")] + ["TongueOut"]
)


def to_lower_camel(name: str) -> str:
    """Map a NIM UpperCamel name to the lowerCamel used in ``poseNames`` of bs_*.npz."""
    return name[:1].lower() + name[1:]


def to_upper_camel(name: str) -> str:
    """Map an npz lowerCamel pose name to the NIM UpperCamel name."""
    return name[:1].upper() + name[1:]
