from linli_runtime.registry import ServiceDescriptor

SERVICE = ServiceDescriptor(
    name="partner-redemption",
    module="linli_redemption.app",
    default_port=50053,
    start_order=30,
    description="partners, merchants' rewards, the POS API (member codes, redeem, refund), settlement",
)
