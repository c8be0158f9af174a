"""confalign: measure and repair how well a language model's confidence matches reality."""

__version__ = "0.1.0"
