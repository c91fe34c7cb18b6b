"""Tests for {{app}}'s build; `python3 -m unittest discover -s tests -t .` runs them with scripts/ importable."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
