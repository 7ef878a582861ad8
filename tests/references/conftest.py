"""A small, hand-made catalog on the emulator, with names chosen to exercise the match rules.

    async def test_x(catalog):
        cat = await catalog()            # or catalog(config=EmulatorConfig(...))
        cat.emu.base_url, cat.products["Bolt, M6"], cat.processes["Welding"]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from sync.emulator import EmulatorConfig, RunningEmulator

#: name -> barcode of the seeded products and processes.
PRODUCTS = {"Steel Bracket SB-1": "4000000000011", "Hinge Plate HP-2": "4000000000028",
            "Bolt, M6": "4000000000035", "Cover Panel CP-4": "4000000000042"}
PROCESSES = {"Cutting": "PRC-0001", "Welding": "PRC-0002", "Painting": "PRC-0003"}


@dataclass
class Catalog:
    """The emulator and the ids of what was seeded (name -> id)."""

    emu: RunningEmulator
    products: dict[str, str]
    processes: dict[str, str]


@pytest.fixture
def catalog(emulator: Any) -> Callable[..., Awaitable[Catalog]]:
    """Factory: ``await catalog(config=...)`` -> an emulator holding the seeded catalog."""

    async def start(config: EmulatorConfig | None = None) -> Catalog:
        emu = await emulator(config=config)
        store = emu.store
        products = {name: store.add_product(product=name, barcode=code)["product_id"]
                     for name, code in PRODUCTS.items()}
        processes = {name: store.add_process(process=name, barcode=code)["process_id"]
                     for name, code in PROCESSES.items()}
        return Catalog(emu, products, processes)

    return start
