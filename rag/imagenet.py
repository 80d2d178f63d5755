"""The ImageNet-1k classes the encoders name: fossil groups and things that look like them.

The knowledge base maps these names to its entries (`imagenet_classes` in fossils.yaml) and
refuses any other name. Every other class is reported by index only: nothing reads its name.
"""

FOSSIL_CLASSES: dict[int, str] = {
    51: "triceratops",
    69: "trilobite",
    109: "brain coral",
    112: "conch",
    113: "snail",
    117: "chambered nautilus",
    327: "starfish",
    328: "sea urchin",
}


def class_name(index: int) -> str:
    return FOSSIL_CLASSES.get(index, f"imagenet-{index}")
