"""The OAuth 2 / OIDC side of the issuer, framework-free: clients, authorization codes with
PKCE, device codes (RFC 8628), refresh-token rotation, and the token endpoint's grant types
(`server.py`). The HTTP layer (`linli_identity.web`) parses requests and renders pages; the
rules live here.

Why not Authlib's AuthorizationServer: its grants call the storage through synchronous hooks
(`query_client`, `save_token`, `authenticate_user`, …) from inside a synchronous request
pipeline. This service's storage is async (SQLAlchemy asyncio on SQLite and PostgreSQL, one
event loop shared with gRPC); running those hooks would mean blocking the loop on database
calls or bridging each hook to the loop from a worker thread — unsound for a service that must
never block its loop. So the endpoints are written in async code following RFC 6749, 7636 (PKCE),
8628 (device flow) and OIDC Core, and every cryptographic and PKCE primitive comes from a
library: Authlib's `compare_s256_code_challenge` and verifier/challenge patterns, joserfc for JWTs,
`secrets` for random values. Authlib's own OAuth 2 client drives these endpoints in the
integration tests.
"""
