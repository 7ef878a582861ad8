"""A local server that speaks the Flowtrac product-processes API (docs/flowtrac-api.md),
with knobs to inject the faults real servers have.  Used by tests, the demo and benchmarks."""

from ..errors import EmulatorRefusalError
from .app import make_app
from .config import DEMO_BADGE, DEMO_PIN, DEMO_TOKEN, EmulatorConfig
from .dataset import Dataset, generate_dataset, load_seed
from .runner import EmulatorThread, RunningEmulator, running_emulator
from .store import Store

__all__ = [
    "DEMO_BADGE",
    "DEMO_PIN",
    "DEMO_TOKEN",
    "Dataset",
    "EmulatorConfig",
    "EmulatorThread",
    "EmulatorRefusalError",
    "RunningEmulator",
    "Store",
    "generate_dataset",
    "load_seed",
    "make_app",
    "running_emulator",
]
