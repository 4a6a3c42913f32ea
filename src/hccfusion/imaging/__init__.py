"""Per-patient imaging: reading, checking and de-identifying CT phases and their masks."""

from hccfusion.imaging.ingest import acquisition_info, ingest, read_image, read_mask

__all__ = ["acquisition_info", "ingest", "read_image", "read_mask"]
