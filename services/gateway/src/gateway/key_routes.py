"""/keys: API key management (admin keys only). A new key is shown once, in the answer that creates it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from pydantic import AfterValidator, BaseModel, Field

from gateway.api_keys import OWNER, ApiKey, KeyStore, Role
from gateway.auth import Admin
from gateway.schemas import Problem
from jobcommon.requests.safe_text import safe_text

router = APIRouter(prefix="/keys", tags=["keys"])


class NewKey(BaseModel):
    # no control, invisible or bidi-override characters: a name must read in a listing as what it is
    name: Annotated[str, AfterValidator(safe_text)] = Field(min_length=1, max_length=100)
    owner: str = Field(min_length=1, max_length=64, pattern=OWNER.pattern)
    role: Role = Role.SUBMIT


class CreatedKey(ApiKey):
    key: str = Field(description="The key itself: shown this once, stored only as its sha256 digest.")


def _store(request: Request) -> KeyStore:
    store: KeyStore = request.app.state.keys
    return store


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CreatedKey)
async def create_key(body: NewKey, request: Request, _: Admin) -> CreatedKey:
    """Create a key for `owner` with `role`; the answer is the only time the key itself is shown."""
    key, secret = await _store(request).create(body.name, body.owner, body.role)
    return CreatedKey(**key.model_dump(), key=secret)


@router.get("", response_model=list[ApiKey])
async def list_keys(request: Request, _: Admin) -> list[ApiKey]:
    """Every key (never the keys themselves), oldest first."""
    return await _store(request).list()


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem, "description": "No such key."}},
)
async def revoke_key(
    key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")], request: Request, _: Admin
) -> None:
    """Revoke a key: every gateway replica refuses it within a second."""
    if not await _store(request).revoke(key_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no API key with id {key_id!r}")
