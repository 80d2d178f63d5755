"""What a correction may name: a knowledge-base group (by id, name or alias), or no fossil."""

import difflib

from paleon.errors import InvalidRequest
from rag.knowledge import KnowledgeBase

NOT_A_FOSSIL = "not_a_fossil"


def resolve(kb: KnowledgeBase, text: str) -> str:
    """The knowledge-base id `text` names, or NOT_A_FOSSIL; a 400 with close matches else."""
    wanted = text.strip()
    if wanted.lower().replace(" ", "_") == NOT_A_FOSSIL:
        return NOT_A_FOSSIL
    entry = kb.resolve(wanted)
    if entry is not None:
        return entry.id
    names = {name.lower(): entry.id for entry in kb.by_id.values()
             for name in (entry.id, entry.name, entry.scientific_name, *entry.aliases)}
    close = difflib.get_close_matches(wanted.lower(), list(names), n=8, cutoff=0.6)
    suggestions = list(dict.fromkeys(names[name] for name in close))[:5]
    hint = (f" Close matches: {', '.join(suggestions)}." if suggestions
            else " GET /knowledge/search?q=... finds groups by description.")
    raise InvalidRequest(f"taxon: {wanted[:80]!r} is not in the knowledge base; give a "
                         f"group's id, name or alias, or {NOT_A_FOSSIL!r}.{hint}")
