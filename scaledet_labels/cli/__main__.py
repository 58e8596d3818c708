"""``python -m scaledet_labels.cli``: the same as the ``scaledet-labels`` command."""

from scaledet_labels.cli.app import run

run()
