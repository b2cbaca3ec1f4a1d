"""One error base class: every failure a client may see carries an HTTP status and a machine code."""


class MosPayError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None,
                 status: int | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers or {}
        if code:
            self.code = code
        if status:
            self.status = status

    def to_dict(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return {"error": error}


class BadRequest(MosPayError):
    status, code = 400, "bad_request"


class Unauthorized(MosPayError):
    status, code = 401, "unauthorized"


class Forbidden(MosPayError):
    status, code = 403, "forbidden"


class NotFound(MosPayError):
    status, code = 404, "not_found"


class Conflict(MosPayError):
    status, code = 409, "conflict"


class PayloadTooLarge(MosPayError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(MosPayError):
    status, code = 415, "unsupported_media_type"


class InvalidField(MosPayError):
    status, code = 422, "invalid_field"


class FunctionError(MosPayError):
    """A client's PostgreSQL function failed or answered something unusable."""
    status, code = 502, "function_error"


class ServiceUnavailable(MosPayError):
    status, code = 503, "service_unavailable"


class TooManyRequests(MosPayError):
    """Throttled: too many failed authentications, or over the client's rate limit. Carries Retry-After."""
    status, code = 429, "too_many_requests"
