"""The warnings a result can carry, each built with its stable code and its wording."""

from rag.geology import AgeInterval
from rag.records import Notice, NoticeCode


def empty_index() -> Notice:
    return Notice(NoticeCode.EMPTY_INDEX,
                  "No reference specimens are indexed yet, so nothing could be compared. "
                  "Ingest a gallery with `paleon ingest DIR` (DIR/<label>/*.jpg|png).")


def unidentified() -> Notice:
    return Notice(NoticeCode.UNIDENTIFIED,
                  "This specimen could not be named with confidence: nothing in the reference "
                  "collection is similar enough. It may belong to a group the collection does "
                  "not hold yet. The closest groups are listed with their confidence; photos "
                  "from other sides, in even light, may help.")


def not_a_fossil(why: str) -> Notice:
    return Notice(NoticeCode.NOT_A_FOSSIL,
                  f"This may not be a fossil: {why}. Pseudofossils such as concretions and "
                  "manganese dendrites are often mistaken for fossils.")


def photos_disagree(names: list[str]) -> Notice:
    return Notice(NoticeCode.PHOTOS_DISAGREE,
                  f"The photos disagree ({', '.join(names)}): are they all of one specimen? "
                  "They are combined as views of one.")


def label_without_entry(label: str) -> Notice:
    return Notice(NoticeCode.LABEL_WITHOUT_ENTRY,
                  f"{label!r} is a reference label with no knowledge-base entry, so no "
                  "description, range or look-alikes are given.")


def vision_model_unused(reason: str) -> Notice:
    return Notice(NoticeCode.VISION_MODEL_UNUSED, f"The retrieval result is shown: {reason}.")


def vision_model_disagrees(name: str) -> Notice:
    return Notice(NoticeCode.VISION_MODEL_DISAGREES,
                  f"The vision model named {name}, which differs from the reference "
                  "collection's evidence (see candidates).")


def out_of_range(name: str, first_ma: float, last_ma: float, age: AgeInterval) -> Notice:
    if age.first_ma < last_ma:
        known = f"{name} are not known after {last_ma:g} Ma"
    else:
        known = f"{name} are not known before {first_ma:g} Ma"
    return Notice(NoticeCode.OUT_OF_RANGE,
                  f"{known}; the stated age is {age.describe()}. The photos look most like "
                  f"{name}, so it was down-weighted; check the age, or the identification.")


def few_references(name: str, count: int) -> Notice:
    return Notice(NoticeCode.FEW_REFERENCES,
                  f"The reference collection holds only {count} specimen(s) of {name}: treat "
                  "this identification with care.")
