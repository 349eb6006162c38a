"""Assembling the notification service: servicers, consumers, the sweeper, demo data."""

from __future__ import annotations

from pathlib import Path

from linli.notification.v1 import notification_pb2, notification_pb2_grpc
from linli_notification.api_help import HelpRequestServicer
from linli_notification.api_inbox import InboxServicer
from linli_notification.api_roster import DutyRosterServicer
from linli_notification.consumers import NoticeConsumers
from linli_notification.dispatcher import Dispatcher
from linli_notification.providers import CHANNELS, FileProvider, ProviderTable
from linli_notification.settings import NotificationSettings
from linli_notification.sweeper import Sweeper
from linli_runtime.clock import Clock
from linli_runtime.events.streams import GOVERNANCE, NOTIFICATION, POINTS, REDEMPTION
from linli_runtime.migrations import MigrationSet
from linli_runtime.server import ServiceApp

MIGRATIONS = MigrationSet(Path(__file__).parent / "migrations")
SERVICES = notification_pb2.DESCRIPTOR.services_by_name


class NotificationApp(ServiceApp):
    """The ServiceApp plus the sweeper (escalations, follow-ups, deliveries). A sweep interval
    of 0 leaves the sweeper to whoever calls `sweeper.run_once()` (tests, with a ManualClock)."""

    def __init__(self, settings: NotificationSettings, *, clock: Clock | None = None,
                 providers: ProviderTable | None = None) -> None:
        super().__init__("notification", settings, migrations=[MIGRATIONS],
                         streams=[GOVERNANCE, POINTS, REDEMPTION, NOTIFICATION], clock=clock)
        if providers is None:
            local = FileProvider(settings.delivery_path())
            providers = {channel: [local] for channel in CHANNELS}
        self.dispatcher = Dispatcher(self.db, self.clock, providers)
        self.sweeper = Sweeper(self, self.db, self.dispatcher, settings.sweep_interval_seconds)
        for register, servicer, service in (
            (notification_pb2_grpc.add_HelpRequestServiceServicer_to_server, HelpRequestServicer(self, self.db),
             "HelpRequestService"),
            (notification_pb2_grpc.add_DutyRosterServiceServicer_to_server, DutyRosterServicer(self, self.db),
             "DutyRosterService"),
            (notification_pb2_grpc.add_InboxServiceServicer_to_server, InboxServicer(self, self.db),
             "InboxService"),
        ):
            self.add_service(register, servicer, SERVICES[service].full_name)
        for spec in NoticeConsumers(self.clock).specs():
            self.add_consumer(spec)
        if settings.demo_data:
            from linli_notification.demo import seed

            self.on_start(seed)

    async def start(self) -> int:
        port = await super().start()
        if self.settings.sweep_interval_seconds > 0:  # type: ignore[attr-defined]
            self.sweeper.start()
        return port

    async def stop(self, grace: float | None = None) -> None:
        await self.sweeper.stop()
        await super().stop(grace)
