"""Assembling the notification service: the domain objects, the servicers, the consumers, the
sweeper and demo data. `python -m linli_notification.app` runs it with settings from the
environment (see README)."""

from __future__ import annotations

from pathlib import Path

from linli.notification.v1 import notification_pb2, notification_pb2_grpc, one_time_codes_pb2, one_time_codes_pb2_grpc
from linli_notification.api.duty_roster import DutyRosterServicer
from linli_notification.api.help_requests import HelpRequestServicer
from linli_notification.api.inbox import InboxServicer
from linli_notification.api.one_time_codes import OneTimeCodeServicer
from linli_notification.channels import configured_providers
from linli_notification.community import Communities
from linli_notification.consumers import NoticeConsumers
from linli_notification.dispatcher import Dispatcher
from linli_notification.helpdesk import HelpDesk
from linli_notification.notices import Inbox
from linli_notification.one_time_codes import OneTimeCodes
from linli_notification.providers import ProviderTable, close_providers
from linli_notification.settings import NotificationSettings
from linli_notification.sweeper import Sweeper
from linli_notification.tables import known_org_unit
from linli_runtime.clock import Clock
from linli_runtime.events.streams import GOVERNANCE, IDENTITY, NOTIFICATION, POINTS, REDEMPTION
from linli_runtime.migrations import MigrationSet
from linli_runtime.org_units import KnownUnits
from linli_runtime.server import ServiceApp
from linli_runtime.tasks import PeriodicTask

MIGRATIONS = MigrationSet(Path(__file__).parent / "migrations")
SERVICES = notification_pb2.DESCRIPTOR.services_by_name
CODE_SERVICES = one_time_codes_pb2.DESCRIPTOR.services_by_name


class NotificationApp(ServiceApp):
    """The ServiceApp plus the help desk, the inbox, the sweeper (escalations, follow-ups,
    deliveries) and one-time codes. A sweep interval of 0 leaves the sweeper to whoever calls
    `sweeper.run_once()` (tests, with a ManualClock). The outbound providers come from the
    settings (`channels.py`) unless given, and are closed when the app stops."""

    def __init__(self, settings: NotificationSettings, *, clock: Clock | None = None,
                 providers: ProviderTable | None = None) -> None:
        super().__init__("notification", settings, migrations=[MIGRATIONS],
                         streams=[GOVERNANCE, POINTS, REDEMPTION, NOTIFICATION, IDENTITY], clock=clock)
        self.helpdesk = HelpDesk(self.db, self.clock, self.make_event,
                                 workers_only=settings.roster_requires_worker_grant)
        self.communities = Communities(self.db, check_workers=settings.roster_requires_worker_grant)
        # The places trust-governance announced: new things go only where one is known and open.
        self.places = KnownUnits(self.db, known_org_unit, "notification")
        self.inbox = Inbox(self.db, self.clock)
        if providers is None:
            providers = configured_providers(settings, self.clock)
        self.providers = providers
        self.dispatcher = Dispatcher(self.db, self.clock, providers)
        self.one_time_codes = OneTimeCodes(self.db, self.clock, providers.get("sms", ()),
                                           settings.one_time_code_limits())
        self.sweeper = Sweeper(self.helpdesk, self.dispatcher)
        self._sweeping: PeriodicTask | None = (
            self.sweeper.periodic(settings.sweep_interval_seconds) if settings.sweep_interval_seconds > 0 else None)
        self.add_service(notification_pb2_grpc.add_HelpRequestServiceServicer_to_server,
                         HelpRequestServicer(self.helpdesk, self.db, self.clock, self.places),
                         SERVICES["HelpRequestService"].full_name)
        self.add_service(notification_pb2_grpc.add_DutyRosterServiceServicer_to_server,
                         DutyRosterServicer(self.communities, self.db, self.clock, self.places),
                         SERVICES["DutyRosterService"].full_name)
        self.add_service(notification_pb2_grpc.add_InboxServiceServicer_to_server, InboxServicer(self.inbox),
                         SERVICES["InboxService"].full_name)
        self.add_service(one_time_codes_pb2_grpc.add_OneTimeCodeServiceServicer_to_server,
                         OneTimeCodeServicer(self.one_time_codes, settings.code_senders()),
                         CODE_SERVICES["OneTimeCodeService"].full_name)
        for spec in NoticeConsumers(self.clock, workers_only=settings.roster_requires_worker_grant).specs():
            self.add_consumer(spec)
        if settings.demo_data:
            from linli_notification.demo import seed, seed_recent_requests

            self.on_start(seed)
            self.on_start(seed_recent_requests)

    async def start(self) -> int:
        port = await super().start()
        if self._sweeping is not None:
            self._sweeping.start()
        return port

    async def stop(self, grace: float | None = None) -> None:
        if self._sweeping is not None:
            await self._sweeping.stop()
        await super().stop(grace)
        # After the drain: a call still sending a code needs its gateway's connections.
        await close_providers(p for providers in self.providers.values() for p in providers)


def create_app(settings: NotificationSettings | None = None, *, clock: Clock | None = None,
               providers: ProviderTable | None = None) -> NotificationApp:
    return NotificationApp(settings or NotificationSettings(), clock=clock, providers=providers)


def main() -> None:
    create_app().main()


if __name__ == "__main__":
    main()
