"""`ltx-flows review [RENDERS] [--port]`: serve every film's review page with pick, approve and note buttons."""

import threading
from pathlib import Path
from typing import Annotated

import typer

from ..production.review_server import start_review_server


def review(
    renders: Annotated[Path, typer.Argument(help="The renders folder (each film in RENDERS/NAME/).")] = Path("renders"),
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind. Anything but 127.0.0.1 lets other machines try the token.")] = "127.0.0.1",
) -> None:
    """Serve the review pages: takes side by side, check results, and buttons to pick a take, approve a shot or leave
    a note. Writes only storyboards inside the allowed roots (`LTX_FLOWS_ALLOWED_ROOTS`, else this folder)."""
    if not renders.is_dir():
        typer.echo(f"error: {renders} is not a folder of renders (give the folder `ltx-flows render --out` wrote)", err=True)
        raise typer.Exit(2)
    server = start_review_server(renders, host, port)
    typer.echo(f"Review server for {renders.resolve()}: {server.url}", nl=True)
    typer.echo("Ctrl-C stops it.", err=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
