"""Field types and the base class shared by the API's input schemas."""

from pydantic import BaseModel, ConfigDict

from lastmile.core.instants import EARLIEST, LATEST, UtcDatetime, instant_parse

__all__ = ["EARLIEST", "LATEST", "StrictSchema", "UtcDatetime", "instant_parse"]


class StrictSchema(BaseModel):
    """Base of every request body: the JSON types as the schema says, nothing else.

    ``0`` is not a boolean, ``true`` not an id, ``"5"`` not a number, an array not an
    object, and a field the schema does not name is a 422 naming it, not silently dropped.
    A plain pydantic model, not ``ninja.Schema``, whose getter-based validation reads any
    object's attributes (``"AAA"`` was read as an article whose title was ``"AAA".title()``).
    """

    model_config = ConfigDict(strict=True, extra="forbid")
