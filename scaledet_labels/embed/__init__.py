"""Layer 2, embeddings: prompt templates, prompts, the prompt-embedding cache, the
embedding pipeline and the text encoders. Imports only :mod:`scaledet_labels.vocab` and
the root helpers; never torch, open_clip or transformers at import time.

Examples:
    >>> from scaledet_labels.embed.templates import get_templates
    >>> len(get_templates("simple"))
    7
"""
