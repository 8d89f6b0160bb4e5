"""``clarity bus``: look into the feature bus."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import Annotated, Any

import typer
from rich.table import Table

from clarity.bus import Delivery, open_bus
from clarity.cli._app import app, console, settings_of
from clarity.contracts import Envelope

_SHOWN_ITEMS = 6


def _abbreviate(value: Any) -> Any:
    """Shorten long arrays (a week of actigraphy is 10,080 numbers) for the terminal."""
    if isinstance(value, dict):
        return {k: _abbreviate(v) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) > _SHOWN_ITEMS:
            return [*value[:_SHOWN_ITEMS], f"... {len(value) - _SHOWN_ITEMS} more"]
        return [_abbreviate(v) for v in value]
    return value


bus_app = typer.Typer(help="Inspect the feature bus.", no_args_is_help=True)
app.add_typer(bus_app, name="bus")


@bus_app.command("topics")
def topics(ctx: typer.Context) -> None:
    """List the topics in the log with their record counts."""
    with open_bus(settings_of(ctx)) as bus:
        counts = bus.topics()
        end = bus.end_offset()
    table = Table(title=f"Bus topics (log end offset {end})")
    table.add_column("topic")
    table.add_column("records", justify="right")
    for topic, count in counts.items():
        table.add_row(topic, str(count))
    console.print(table)


@bus_app.command("tail")
def tail(
    ctx: typer.Context,
    pattern: Annotated[str, typer.Argument(help="Topic pattern, e.g. 'ingest.*' or '>'.")] = ">",
    from_offset: Annotated[
        int | None, typer.Option(min=1, help="First offset to show (default: the last --limit).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most records to show.")] = 10,
    full: Annotated[bool, typer.Option(help="Print long arrays in full.")] = False,
) -> None:
    """Print records as JSON, without joining a consumer group.

    Without --from-offset, shows the last --limit records matching the pattern.
    """
    with open_bus(settings_of(ctx)) as bus:
        if from_offset is None:
            shown: Iterable[Delivery[Envelope]] = deque(bus.replay(pattern), maxlen=limit)
        else:
            shown = islice(bus.replay(pattern, from_offset=from_offset), limit)
        for delivery in shown:
            line = {"offset": delivery.offset, **delivery.record.model_dump(mode="json")}
            console.print_json(data=line if full else _abbreviate(line))


@bus_app.command("dead-letters")
def dead_letters(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="Most dead letters to show.")] = 20,
) -> None:
    """List rejected records with the reason they were rejected."""
    with open_bus(settings_of(ctx)) as bus:
        consumer = bus.subscribe_dead_letters(group="cli-dead-letters-view")
        letters = consumer.poll(max_records=limit)
        consumer.close()  # a view: nothing is committed
    table = Table(title="Dead letters")
    for column in ("offset", "source topic", "rejected by", "patient", "reason"):
        table.add_column(column)
    for delivery in letters:
        letter = delivery.record
        table.add_row(
            str(delivery.offset),
            letter.source_topic,
            letter.rejected_by,
            letter.patient_id or "-",
            letter.reason,
        )
    console.print(table)
