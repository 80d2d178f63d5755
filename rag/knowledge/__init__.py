"""The curated fossil knowledge base: `fossils.yaml`, its schema, and look-ups by label."""

from rag.knowledge.base import KnowledgeBase, load_knowledge
from rag.knowledge.schema import Entry, GeologicRange, LookAlike, Rank, Taxon

__all__ = ["Entry", "GeologicRange", "KnowledgeBase", "LookAlike", "Rank", "Taxon",
           "load_knowledge"]
