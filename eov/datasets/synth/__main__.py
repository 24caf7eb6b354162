"""``python -m eov.datasets.synth OUT --train N --test M [--seed S] [--suite v2|grounding]``."""
from .cli import main

if __name__ == '__main__':
    main()
