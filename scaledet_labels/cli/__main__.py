"""``python -m scaledet_labels.cli``: the same as the ``scaledet-labels`` command."""

from scaledet_labels.cli.main import run

run()
