from linli_runtime.registry import ServiceDescriptor

SERVICE = ServiceDescriptor(
    name="notification",
    module="linli_notification.app",
    default_port=50054,
    start_order=400,
    description="help requests, duty roster and routing, notice delivery",
)
