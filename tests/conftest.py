import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # make litert/converter importable without installing
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def models_dir():
    """The reference models (../shared/models next to the checkout), or None on a user's machine."""
    env = os.environ.get("LITERT_MODELS_DIR")
    cands = [Path(env)] if env else [ROOT.parent / "shared" / "models", Path("/work/shared/models")]
    for c in cands:
        if c.is_dir():
            return c
    return None
