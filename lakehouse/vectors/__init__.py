"""Per-corpus HNSW indexes: `VectorIndex` (one hnswlib index) and `CorpusManager` (`Lakehouse.corpora`)."""

from lakehouse.vectors.corpus import Activity, BuildResult, CorpusManager
from lakehouse.vectors.index import HnswParams, VectorIndex
from lakehouse.vectors.loaded import LoadedCorpus, RawHit
from lakehouse.vectors.manifest import CorpusError, CorpusExists, CorpusNotFound, Manifest, SourceSpec

__all__ = [
    "Activity", "BuildResult", "CorpusManager", "HnswParams", "VectorIndex", "LoadedCorpus", "RawHit",
    "CorpusError", "CorpusExists", "CorpusNotFound", "Manifest", "SourceSpec",
]
