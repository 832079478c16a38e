"""brokkr_agent_app."""

__all__: list[str] = []
