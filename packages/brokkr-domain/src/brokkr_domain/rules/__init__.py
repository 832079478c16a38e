"""Pure rules of Brokkr: functions of their arguments only, no I/O, no ports.

Import the rule modules directly (``brokkr_domain.rules.targeting``, ``brokkr_domain.rules.target_state``
...); this package deliberately re-exports nothing so that the rule modules stay independent of each other.
"""

__all__: list[str] = []
