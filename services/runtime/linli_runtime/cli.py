"""`linli platform …`: running the platform on this machine (typer + rich).

    linli platform run
    linli platform run-cluster
    linli platform backup DIR      (the embedded default, running or not)
    linli platform restore DIR     (into a fresh var/)
    linli platform create-admin --phone +8613800000000 --name 张三
    linli platform sms-codes
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.cells import cell_len
from rich.console import Console

from linli_runtime.errors import DomainError
from linli_runtime.translation import _

app = typer.Typer(help="Linli (邻里): trust-based property governance and volunteer points.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
platform_app = typer.Typer(help="Run the platform on this machine.", no_args_is_help=True)
app.add_typer(platform_app, name="platform")
# soft_wrap: a message is one line however narrow the terminal (or a pipe's 80 columns), so a
# script or a person can grep the whole of it.
err = Console(stderr=True, soft_wrap=True)
MTLS_HELP = ("Mutual TLS: every gRPC server also asks its clients for a certificate from the local CA (the "
             "services present theirs; people's tools var/tls/operator.pem, which the CLI finds beside the CA).")
FREE_PORTS_HELP = ("Listen on free ports instead of the documented ones (a second platform beside a running one); "
                   "the summary says where. Without it a documented port another process holds stops the start.")


def fail(message: str, code: int = 1) -> None:
    err.print(_("[red]error:[/] {reason}").format(reason=message))
    raise typer.Exit(code)


@platform_app.command("run")
def platform_run(
    var_dir: Annotated[Path, typer.Option(help="Where data and logs live.")] = Path("var"),
    nats_port: Annotated[int, typer.Option(help="Port for nats-server (a free one if taken).")] = 4222,
    demo_data: Annotated[bool, typer.Option(help="Load the demo data set (Chongzhou, Fengshu).")] = True,
    postgres: Annotated[str | None, typer.Option(
        help="Base URL of a PostgreSQL server; each service uses its own database on it.")] = None,
    free_ports: Annotated[bool, typer.Option("--free-ports", help=FREE_PORTS_HELP)] = False,
    mtls: Annotated[bool, typer.Option("--mtls", help=MTLS_HELP)] = False,
) -> None:
    """Start nats-server and every service on its documented port, gRPC over TLS (the local CA in
    <var-dir>/tls); Ctrl-C stops them cleanly, callers before the services they call."""
    from linli_runtime.platform import run

    raise typer.Exit(run(var_dir, nats_port, demo_data, postgres or os.environ.get("LINLI_POSTGRES_URL"),
                         free_ports=free_ports, mtls=mtls))


@platform_app.command("run-cluster")
def platform_run_cluster(
    var_dir: Annotated[Path, typer.Option(help="Where data and logs live.")] = Path("var/cluster"),
    nats_nodes: Annotated[int, typer.Option(help="NATS JetStream cluster nodes (streams get min(3, nodes) "
                                            "replicas).", min=1, max=5)] = 3,
    replicas: Annotated[int, typer.Option(help="Replicas of every service.", min=1, max=4)] = 2,
    demo_data: Annotated[bool, typer.Option(help="Load the demo data set (Chongzhou, Fengshu).")] = True,
    free_ports: Annotated[bool, typer.Option("--free-ports", help=FREE_PORTS_HELP)] = False,
    mtls: Annotated[bool, typer.Option("--mtls", help=MTLS_HELP)] = False,
) -> None:
    """Start a NATS cluster, PostgreSQL and several replicas of every service; Ctrl-C stops them."""
    from linli_runtime.cluster import run_cluster

    raise typer.Exit(run_cluster(var_dir, nats_nodes=nats_nodes, replicas=replicas, demo_data=demo_data,
                                 free_ports=free_ports, mtls=mtls))


@platform_app.command("backup")
def platform_backup(
    target: Annotated[Path, typer.Argument(help="A new folder for the backup.")],
    var_dir: Annotated[Path, typer.Option(help="The data folder of `make run`.")] = Path("var"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the backup's manifest as JSON.")] = False,
) -> None:
    """Back up the embedded platform while it runs (or not): every stream of its JetStream, then
    every service's SQLite database at one instant. Restore with `linli platform restore`."""
    from linli_runtime.backup import BackupError, backup

    try:
        manifest = backup(var_dir, target)
    except BackupError as exc:
        fail(str(exc), 1)
    if as_json:
        print(json.dumps(asdict(manifest), ensure_ascii=False))
        return
    events = sum(manifest.streams.values())
    err.print(_("[green]backed up[/] {databases} databases and {events} events ({streams} streams) into "
                "{folder}").format(databases=len(manifest.databases), events=events, streams=len(manifest.streams),
                                   folder=target))


@platform_app.command("restore")
def platform_restore(
    source: Annotated[Path, typer.Argument(help="A folder `linli platform backup` wrote.")],
    var_dir: Annotated[Path, typer.Option(help="A fresh data folder to restore into.")] = Path("var"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the events to send again, per service.")] = False,
) -> None:
    """Restore a backup into a fresh data folder; then start the platform on it (`make run`):
    events the backup may lack are sent again, and every consumer applies each event once."""
    from linli_runtime.backup import BackupError, restore

    try:
        resent = restore(source, var_dir)
    except BackupError as exc:
        fail(str(exc), 1)
    if as_json:
        print(json.dumps({"var_dir": str(var_dir), "resend": resent}))
        return
    per_service = ", ".join(f"{k} {v}" for k, v in resent.items() if v) or _("none")
    err.print(_("[green]restored[/] into {folder}: {events} events to send again ({per_service}). Start it: "
                "linli platform run --var-dir {folder}").format(folder=var_dir, events=sum(resent.values()),
                                                                per_service=per_service))


@platform_app.command("services")
def platform_services(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the installed services and where `make run` starts them."""
    from linli_runtime.registry import installed_services

    services = installed_services()
    if as_json:
        print(json.dumps([{"name": s.name, "module": s.module, "port": s.default_port, "addr_env": s.addr_env,
                           **({"pos_port": s.pos_port, "pos_addr_env": s.pos_addr_env} if s.pos_port else {})}
                          for s in services]))
        return
    for s in services:
        print(f"{s.name:20} 127.0.0.1:{s.default_port:<6} {s.addr_env}")
        if s.pos_port:
            edge = "  " + _("(POS edge)")
            # padded by terminal cells, not characters: （POS 入口） is 9 characters but 13 cells wide
            print(f"{edge}{' ' * max(1, 21 - cell_len(edge))}127.0.0.1:{s.pos_port:<6} {s.pos_addr_env}")


@platform_app.command("create-admin")
def platform_create_admin(
    phone: Annotated[str, typer.Option(help="The admin's mobile number, e.g. +8613800000000 (they sign in with it).")],
    name: Annotated[str, typer.Option(help="The admin's name as others see it.")],
    var_dir: Annotated[Path, typer.Option(help="The data folder of `make run` (its identity.db).")] = Path("var"),
    database_url: Annotated[str | None, typer.Option(
        envvar="DATABASE_URL", help="The identity service's database (default: <var-dir>/identity.db).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The first platform admin of a fresh installation — refused once one exists (then admins
    grant admins). No password: the admin signs in at the issuer with the phone and an SMS code."""
    import asyncio

    # The identity service's own bootstrap (linli_identity.bootstrap), run against its database.
    from linli_identity.bootstrap import create_first_admin
    from linli_identity.names import account_name

    from linli_runtime.db import Database

    url = database_url or f"sqlite+aiosqlite:///{(var_dir / 'identity.db').resolve()}"

    async def create() -> str:
        db = Database(url)
        try:
            return await create_first_admin(db, phone, name)
        finally:
            await db.dispose()

    try:
        account_id = asyncio.run(create())
    except DomainError as exc:
        fail(exc.message, 2 if exc.code.name == "INVALID_ARGUMENT" else 1)
    if as_json:
        print(json.dumps({"account": account_name(account_id), "name": name, "role": "platform_admin"},
                         ensure_ascii=False))
        return
    print(_("{account} ({name}) is the platform admin. Sign in with {phone} and the SMS code: `linli login` (the "
            "CLI) or the web portal's sign-in.").format(account=account_name(account_id), name=name, phone=phone))


@platform_app.command("sms-codes")
def platform_sms_codes(
    phone: Annotated[str | None, typer.Option(help="Only codes sent to this number.")] = None,
    last: Annotated[int, typer.Option(help="How many of the latest codes to show.", min=1)] = 5,
    var_dir: Annotated[Path, typer.Option(help="The data folder of `make run`.")] = Path("var"),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The sign-in codes the development SMS gateway "sent" under `make run` (it writes them to
    <var-dir>/identity-sms/codes.jsonl instead of sending them)."""
    path = Path(os.environ.get("LINLI_SMS_DEV_DIR") or var_dir / "identity-sms") / "codes.jsonl"
    if not path.exists():
        fail(_("no codes yet: {path} does not exist (is `make run` running, and did you ask for a code?)").format(
            path=path))
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    wanted = "".join(c for c in phone if c.isdigit()) if phone else ""
    if wanted:
        entries = [e for e in entries if str(e.get("phone", "")).lstrip("+").endswith(wanted.removeprefix("86"))]
    entries = entries[-last:]
    if as_json:
        print(json.dumps(entries, ensure_ascii=False))
        return
    if not entries:
        fail((_("no codes for {phone} in {path}") if phone else _("no codes in {path}")).format(phone=phone, path=path))
    for entry in entries:
        print(f"{entry.get('sent_at', ''):25} {entry.get('phone', ''):16} {entry.get('code', '')}")
    print(_("(from {path})").format(path=path))
