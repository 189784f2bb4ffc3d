"""``m3t-bench train|tokenize|detokenize|ablate`` (registered through the ``m3t_bench.commands`` entry point)."""


def register(subparsers) -> None:
    """Reference-model sub-commands are added by the tokenizer work."""
