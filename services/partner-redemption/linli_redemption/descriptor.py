from linli_runtime.registry import ServiceDescriptor

# The public POS edge under `make run` (PosService and health alone, TLS only), beside the
# internal port that serves everything else.
POS_PORT = 50443

SERVICE = ServiceDescriptor(
    name="partner-redemption",
    module="linli_redemption.app",
    default_port=50053,
    start_order=30,
    description="partners, merchants' rewards, the POS API (member codes, redeem, refund), settlement",
    pos_port=POS_PORT,
)
