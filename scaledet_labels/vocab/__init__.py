"""Layer 1, vocabularies: names, vocabularies, their sources and built-ins, the registry,
merges and the unified label space. Imports only the root helpers
(:mod:`scaledet_labels.errors`).

Examples:
    >>> from scaledet_labels.vocab.registry import load_vocabulary
    >>> len(load_vocabulary("coco"))
    80
"""
