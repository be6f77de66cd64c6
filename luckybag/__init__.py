"""luckybag: a reproducible Fashion-MNIST pipeline for the lucky-bag event."""

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

__version__ = "0.1.0"
