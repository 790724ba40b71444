"""A trained model ready to transcribe: audio file -> normalised features -> softmax outputs -> text.

``Transcriber('results/model_end.h5')`` rebuilds the model from the description saved beside its
weights (vui.saved_model) and computes exactly the training features from the same description
(vui.features.Features), so nothing about the model needs retyping.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vui.decoding import GREEDY, DecodingOptions, decode
from vui.features import Features
from vui.lm_scorer import LanguageModel
from vui.saved_model import ModelFileError, description_path, load_trained_model


class Transcriber:
    """A trained model with its feature settings and normalisation.

    ``features(path)`` gives a file's normalised features, shape (frames, dim); ``probabilities``
    runs the model on a batch of them; ``transcribe(path)`` does both and decodes.
    """

    def __init__(self, weights_path: str) -> None:
        self.model, self.description = load_trained_model(weights_path)
        try:
            self.features: Features = Features.from_dict(self.description["features"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{description_path(weights_path)}: no usable feature description ({exc})") from None
        if self.features.dim != self.model.input_shape[-1]:
            raise ModelFileError(f"{description_path(weights_path)}: its features have {self.features.dim} "
                                 f"dimensions but the model takes {self.model.input_shape[-1]}")

    def probabilities(self, features: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Softmax outputs for a batch of feature arrays (zero-padded together), one (frames, 29) each."""
        longest = max(f.shape[0] for f in features)
        batch = np.zeros((len(features), longest, features[0].shape[1]), dtype=np.float32)
        for i, f in enumerate(features):
            batch[i, : f.shape[0]] = f
        probs = np.asarray(self.model.predict_on_batch(batch))
        return [p[: int(self.model.output_length(f.shape[0]))] for p, f in zip(probs, features)]

    def probabilities_by_length(self, features: Sequence[np.ndarray], batch_size: int = 16) -> list[np.ndarray]:
        """Softmax outputs for many feature arrays, in their order: run in batches of similar length
        (little padding, and little of it reaches the backward direction of bidirectional layers)."""
        order = sorted(range(len(features)), key=lambda i: features[i].shape[0])
        probs: list[np.ndarray] = [None] * len(features)  # type: ignore[list-item]
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            for i, p in zip(batch, self.probabilities([features[i] for i in batch])):
                probs[i] = p
        return probs

    def file_probabilities(self, audio_path: str) -> np.ndarray:
        """Softmax outputs for one audio file, shape (output frames, 29)."""
        return self.probabilities([self.features(audio_path)])[0]

    def transcribe(self, audio_path: str, options: DecodingOptions = GREEDY, lm: LanguageModel | None = None) -> str:
        """Transcript of one audio file, decoded as `options` say (greedy by default)."""
        return decode(self.file_probabilities(audio_path), options, lm)
