"""What a ctxpose cache store *is*: joint sets, camera model, array specs, schema version (numpy only)."""

from schemas.arrays import SCHEMA_NAME, SCHEMA_VERSION

__all__ = ["SCHEMA_NAME", "SCHEMA_VERSION"]
