"""brokkr_broker_app."""

__all__: list[str] = []
