"""Gateway errors, always answered as `{"error": {"code", "message"}}` (README: HTTP endpoints)."""

from __future__ import annotations

from fastapi.responses import JSONResponse


class GatewayError(Exception):
    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, self.headers)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


class NotAnAlert(GatewayError):
    """Valid JSON that is not an alert of this source: 422, never 5xx (Azure mutes endpoints that 5xx)."""

    def __init__(self, message: str) -> None:
        super().__init__(422, "not_an_alert", message)
