"""``egressguard serve`` with proposed server changes applied at run time, to measure them.

    python -m bench.whatif gc-freeze[,entitlement-keys] serve --rules ... (serve's options)

Not the product: an experiment that shows what a change to the server would buy before
anyone makes it. Each change wraps an existing function; none copies server code.

``gc-freeze``: after each rules load, ``gc.collect()`` then ``gc.freeze()``, so Python's
full collections no longer walk the policy's objects. With 100,000 grants a full
collection takes ~140 ms on this machine and stalls every request in flight.
"""

from __future__ import annotations

import builtins
import functools
import gc
import sys
from collections.abc import Callable, Coroutine, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from webhook.cli.main import main as egressguard_main
from webhook.server.rules import RulesState


def freeze_after_reload() -> None:
    reload: Callable[[RulesState], Coroutine[Any, Any, bool]] = RulesState.reload

    @functools.wraps(reload)
    async def reload_then_freeze(self: RulesState) -> bool:
        changed = await reload(self)
        if changed:
            gc.collect()
            gc.freeze()
        return changed

    RulesState.reload = reload_then_freeze  # type: ignore[method-assign]


def entitlement_keys_view() -> None:
    from webhook.engine import entitlement

    def keys_or_set(value: Iterable[Any] = ()) -> AbstractSet[Any]:
        return value.keys() if isinstance(value, Mapping) else builtins.set(value)

    entitlement.set = keys_or_set  # type: ignore[attr-defined]


CHANGES: dict[str, Callable[[], None]] = {
    "gc-freeze": freeze_after_reload,
    "entitlement-keys": entitlement_keys_view,
}


def main(argv: list[str] | None = None) -> int | None:
    args = list(sys.argv[1:] if argv is None else argv)
    names = args[0].split(",") if args else []
    if not names or any(name not in CHANGES for name in names):
        print(f"usage: python -m bench.whatif CHANGE[,CHANGE] serve [options]; "
              f"changes: {', '.join(CHANGES)}", file=sys.stderr)
        return 2
    for name in names:
        CHANGES[name]()
    return egressguard_main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
