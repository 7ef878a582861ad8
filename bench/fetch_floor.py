"""The fetch floor: the least a client can do to read a sheet's lines from the server.

    python bench/fetch_floor.py BASE_URL TOKEN IDS_FILE REQUESTS CONCURRENCY

Reads the product ids in IDS_FILE (one a line), splits them into REQUESTS ``product_id-in``
GETs, sends them over one aiohttp session with at most CONCURRENCY in flight, and parses every
answer with orjson.  No validation, no retries beyond a 429's, no conversion: what is left of
a no-op plan once the sheet is read and nothing is checked or compared.  Prints the number of
lines it read, so that the benchmark can check it read them all.
"""

from __future__ import annotations

import asyncio
import math
import sys

import aiohttp
import orjson


async def fetch_all(base_url: str, token: str, ids: list[str], requests: int,
                    concurrency: int) -> int:
    size = max(1, math.ceil(len(ids) / max(1, requests)))
    batches = [ids[i:i + size] for i in range(0, len(ids), size)]
    url = f"{base_url}/product-processes"
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers={"Cookie": f"user={token}"},
                                     connector=connector) as session:

        async def one(batch: list[str]) -> int:
            while True:
                async with gate, session.get(url, params={"product_id-in": ",".join(batch)}) \
                        as response:
                    body = await response.read()
                    if response.status == 429:
                        await asyncio.sleep(float(response.headers.get("Retry-After", 0.05)))
                        continue
                    response.raise_for_status()
                    return len(orjson.loads(body))

        return sum(await asyncio.gather(*map(one, batches)))


def main() -> None:
    base_url, token, ids_file, requests, concurrency = sys.argv[1:6]
    with open(ids_file, encoding="utf-8") as handle:
        ids = handle.read().split()
    print(asyncio.run(fetch_all(base_url, token, ids, int(requests), int(concurrency))))


if __name__ == "__main__":
    main()
