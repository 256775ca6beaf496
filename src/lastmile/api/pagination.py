from collections.abc import Callable
from typing import Any

from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination


class BoundedLimitOffset(LimitOffsetPagination):
    """``?limit=&offset=`` with both bounded, so a huge offset is a 422, not a database error."""

    class Input(Schema):
        limit: int = Field(50, ge=1, le=200)
        offset: int = Field(0, ge=0, le=1_000_000)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_limit=200, **kwargs)


class LazyPage:
    """A queryset seen as a sliceable list for ``@paginate``: only the page the paginator
    asks for is fetched and turned into output by ``out``."""

    def __init__(self, qs: Any, out: Callable[[Any], dict[str, Any]]) -> None:
        self.qs, self.out = qs, out

    def __len__(self) -> int:
        return self.qs.count()

    def count(self) -> int:
        return self.qs.count()

    def __getitem__(self, item: slice) -> list[dict[str, Any]]:
        return [self.out(row) for row in self.qs[item]]
