"""The issuer's HTTP face: OIDC discovery, JWKS, the OAuth endpoints and the sign-in pages
(Starlette, served by uvicorn in the service's event loop beside gRPC).

| method and path | what |
|---|---|
| GET `/.well-known/openid-configuration` | OIDC discovery |
| GET `/jwks.json` | the public signing keys (active + retired, not yet dropped) |
| POST `/oauth/token` | tokens: authorization_code (+PKCE), refresh_token, client_credentials, device_code |
| POST `/oauth/device_authorization` | RFC 8628: a device code and a user code for the CLI |
| POST `/oauth/revoke` | RFC 7009: end a refresh token's sign-in (the CLI's logout, the portal's sign-out) |
| GET, POST `/oauth/authorize` | the authorization request; sign-in if needed, then continue/cancel |
| GET, POST `/signin`, POST `/signin/code` | phone number → one-time SMS code → issuer session |
| POST `/signout` | end the issuer session |
| GET, POST `/device` | confirm (or deny) a device's user code |
| GET `/healthz` | 200 while the service runs |

Pages are Chinese first with English beside it, plain HTML forms (no JavaScript), sized for
phones. Every POST of a page carries the session's CSRF token.
"""
