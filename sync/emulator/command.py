"""``flowtrac-sync emulator`` (also ``python -m sync.emulator``): serve a local Flowtrac-compatible
server until Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
from pathlib import Path

import click

from sync.errors import SyncError

from .config import DEMO_TOKEN, EmulatorConfig
from .dataset import generate_dataset, load_seed
from .runner import running_emulator
from .store import Store


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help="SQLite file that keeps the data across restarts.")
@click.option("--seed", "seed_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON or CSV file with the data to start with.")
@click.option("--products", default=10, show_default=True, type=click.IntRange(0),
              help="Generate this many products (unless --seed is given).")
@click.option("--lines", default=5, show_default=True, type=click.IntRange(0),
              help="Routing lines per generated product.")
@click.option("--dataset-seed", default=1, show_default=True,
              help="Random seed of the generated data (same seed, same data).")
@click.option("--latency-ms", default=0.0, type=click.FloatRange(0), help="Delay per request.")
@click.option("--latency-jitter-ms", default=0.0, type=click.FloatRange(0),
              help="The delay varies by up to this much either way.")
@click.option("--max-concurrency", type=click.IntRange(1),
              help="Requests in flight beyond this are answered 429.")
@click.option("--retry-after", default=0.05, show_default=True, type=click.FloatRange(0),
              help="Retry-After seconds sent with a 429.")
@click.option("--no-retry-after", is_flag=True, help="Send 429 without a Retry-After header.")
@click.option("--error-rate", default=0.0, type=click.FloatRange(0, 1),
              help="Share of requests answered 500/503 with no effect.")
@click.option("--drop-rate", default=0.0, type=click.FloatRange(0, 1),
              help="Share of committed writes whose answer is lost (connection closed).")
@click.option("--session-requests", type=click.IntRange(1),
              help="A session expires after this many requests (401).")
@click.option("--fault-seed", type=int, help="Random seed of the injected faults.")
@click.option("--allow-duplicate-lines", is_flag=True,
              help="Accept two records on the same product_id + line_number.")
@click.option("--token", "tokens", multiple=True,
              help=f"Token accepted as Cookie user=TOKEN (repeatable; default {DEMO_TOKEN}).")
def emulator(
    host: str, port: int, db: Path | None, seed_file: Path | None, products: int,
    lines: int, dataset_seed: int, latency_ms: float, latency_jitter_ms: float,
    max_concurrency: int | None, retry_after: float, no_retry_after: bool, error_rate: float,
    drop_rate: float, session_requests: int | None, fault_seed: int | None,
    allow_duplicate_lines: bool, tokens: tuple[str, ...],
) -> None:
    """Serve a local Flowtrac-compatible API (with optional fault injection) until Ctrl-C."""
    config = EmulatorConfig(
        latency_ms=latency_ms, latency_jitter_ms=latency_jitter_ms,
        max_concurrency=max_concurrency, retry_after_s=None if no_retry_after else retry_after,
        error_rate=error_rate, drop_rate=drop_rate, session_requests=session_requests,
        fault_seed=fault_seed, allow_duplicate_lines=allow_duplicate_lines,
        db_path=str(db) if db else None,
    )
    if tokens:
        config.tokens = set(tokens)
    try:
        store = Store(config.db_path)
        if store.is_empty():
            started = time.perf_counter()
            if seed_file is not None:
                dataset = load_seed(seed_file)
            else:
                dataset = generate_dataset(products, lines, seed=dataset_seed)
            store.load(dataset)
            click.echo(f"Loaded {dataset.summary()} in {time.perf_counter() - started:.1f} s.")
            del dataset
        else:
            click.echo(f"Using the data already in {db} (no data generated or seeded).")
        asyncio.run(_serve(config, store, host, port))
    except SyncError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(error.exit_code)
    except sqlite3.Error as error:
        raise click.ClickException(f"Cannot use the database {db}: {error}.") from None
    except OSError as error:
        raise click.ClickException(f"Cannot serve on {host}:{port}: {error.strerror}.") from None
    except KeyboardInterrupt:
        pass  # Ctrl-C before the server was up
    click.echo("Emulator stopped.")


async def _serve(config: EmulatorConfig, store: Store, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            pass
    async with running_emulator(config, host=host, port=port, store=store) as emu:
        badge, pin = next(iter(config.users.items()))
        token = sorted(config.tokens)[0] if config.tokens else None
        click.echo(f"Flowtrac emulator serving at {emu.base_url}")
        if token:
            click.echo(f"  token:     {token}    (send as: Cookie: user={token})")
        click.echo(f"  badge/PIN: {badge} / {pin}    (POST {emu.base_url}/device-login/)")
        click.echo("Press Ctrl-C to stop.")
        sys.stdout.flush()
        await stop.wait()
