"""The GPU farm: parsing telemetry captures into normalized host reports."""
