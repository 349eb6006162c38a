"""OAuth 2 errors (RFC 6749 §5.2, RFC 8628 §3.5): a code a client branches on, a description
a person can act on, and the HTTP status the token endpoint answers with."""

from __future__ import annotations


class OAuthError(Exception):
    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_client(description: str = "client authentication failed") -> OAuthError:
    return OAuthError("invalid_client", description, status=401)


def invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def unauthorized_client(description: str) -> OAuthError:
    return OAuthError("unauthorized_client", description)


def unsupported_grant_type(grant_type: str) -> OAuthError:
    return OAuthError("unsupported_grant_type", f"grant_type {grant_type[:80]!r} is not supported here")
