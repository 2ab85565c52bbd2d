"""The model card: a JSON file beside the weights saying what the model is and how it was
made and measured. No TensorFlow here (the GUI reads it before TF is loaded)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungview.errors import ModelError

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
BUNDLED_MODEL = RESOURCES / "models" / "lungview-effnetb0.keras"


def card_path_for(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ModelCard:
    """The fields lungview relies on; everything else in the JSON is kept in ``extra``."""

    name: str
    version: str
    labels: tuple[str, ...]
    input_size: int
    cam_layer: str
    sha256: str
    preprocessing: str = ""
    intended_use: str = "Research use only. Not a medical device."
    extra: dict[str, Any] = field(default_factory=dict)

    REQUIRED = ("name", "version", "labels", "input_size", "cam_layer", "sha256")

    @classmethod
    def read(cls, path: str | Path) -> "ModelCard":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"{path}: model card not found") from None
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path}: model card is not readable JSON ({exc})") from None
        missing = [k for k in cls.REQUIRED if k not in data]
        if missing:
            raise ModelError(f"{path}: model card lacks {', '.join(missing)}")
        known = {k: data.pop(k) for k in list(data) if k in cls.__dataclass_fields__}
        known["labels"] = tuple(known["labels"])
        return cls(**known, extra=data)

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}
        data["labels"] = list(self.labels)
        data.update(self.extra)
        return data

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")


def verified_card(model_path: str | Path) -> ModelCard:
    """Read the card beside ``model_path`` and check the weights file against its sha256.

    Raises ModelError with a message a user can act on: the app then runs without AI.
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelError(f"{model_path}: model file not found")
    card = ModelCard.read(card_path_for(model_path))
    actual = sha256_of(model_path)
    if actual != card.sha256:
        raise ModelError(
            f"{model_path}: weights do not match their model card (sha256 {actual[:12]}… "
            f"but the card says {card.sha256[:12]}…); refusing to use this model")
    return card
