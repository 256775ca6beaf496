from django.db import models


class Counter(models.Model):
    """A named, monotonically increasing number (case references, LM-1042)."""

    name = models.CharField(max_length=50, primary_key=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
