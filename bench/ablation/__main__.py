"""``python -m bench.ablation``: the Model-as-Loss ablation (see bench.ablation.cli)."""
import sys

from bench.ablation.cli import main

sys.exit(main())
