"""The base of every parameter block: unknown keys refused, values frozen."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
