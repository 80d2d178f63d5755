"""The curated fossil knowledge base: `fossils.yaml`, its schema, and look-ups by label."""

from rag.knowledge.base import KnowledgeBase, load_knowledge
from rag.knowledge.schema import Entry, LookAlike, Taxon

__all__ = ["Entry", "KnowledgeBase", "LookAlike", "Taxon", "load_knowledge"]
