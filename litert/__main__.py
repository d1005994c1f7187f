"""python -m litert: the `litert` command (run, inspect, bench)."""
import sys

from .cli import main

sys.exit(main())
