"""One closed registry of names, written once for losses and for metrics.

A :class:`Registry` maps names to classes and functions, keeps aliases,
suggests close names for a typo, and reads and writes the config dicts
``keras.losses.serialize`` / ``keras.metrics.serialize`` produce. It is
instantiated once by ``lossbridge.losses.registry`` and once by
``lossbridge.metrics.registry``; it imports no other lossbridge module, so
either package can use it without an import cycle.

Only registered names ever resolve: nothing a config names (``module``
included) is imported or evaluated.

Closed. A name or alias that is taken is not silently replaced: another
package's ``@register_loss("mse")`` would change what every ``get("mse")``
and every saved config resolves to. Registering a taken name raises a
ValueError naming the holder, unless the caller passes ``override=True``.
Two registrations are not a conflict:

* the very same object again (what it wraps, for a decorated function):
  nothing changes;
* the same definition again (same ``__module__`` and ``__qualname__``, as
  after ``importlib.reload`` or when a test defines its helper once per
  parameter): the new object replaces the old one, as a reload expects.

The check guards against accidents, not against hostile code in the same
process (that can pass ``override=True``).
"""

from __future__ import annotations

import difflib
import re

FUNCTION = "function"  # the class_name Keras writes for a function


def snake_case(name):
    """Keras' ``to_snake_case``: ``KLDivergence`` -> ``kl_divergence`` (the
    default names of losses and metrics; non-word characters are dropped)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name))
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _unwrapped(obj):
    """What a decorated function wraps (``functools.wraps`` sets ``__wrapped__``)."""
    return getattr(obj, "__wrapped__", obj)


def _definition(obj):
    inner = _unwrapped(obj)
    return getattr(inner, "__module__", None), getattr(inner, "__qualname__", None)


def same_object(held, new):
    """``new`` is ``held``, or wraps the very same function."""
    return held is new or _unwrapped(held) is _unwrapped(new)


def same_definition(held, new):
    """``new`` is ``held`` redefined by the same source (a reload)."""
    module, qualname = _definition(new)
    return qualname is not None and (module, qualname) == _definition(held)


def describe_holder(obj):
    """``module.qualname`` of a registered object, for error messages."""
    module, qualname = _definition(obj)
    return f"{module}.{qualname}" if qualname else repr(obj)


class Registry:
    """Names -> classes and functions of one kind (``"loss"``, ``"metric"``).

    Args:
        kind: the word errors use.
        module: the ``module`` :meth:`serialize` writes.
        decorator: how users register, for error messages.
        classes: the dict of class entries (kept, not copied: callers may
            hold and restore it).
        functions: the dict of function entries; the same dict as
            ``classes`` where one table holds both (losses).
        aliases: alias -> registered name.
        fallback: a registry whose *functions* resolve where this one has no
            function of that name (metrics accept every loss function).
    """

    def __init__(self, kind, module, decorator, *, classes, functions=None, aliases=None, fallback=None):
        self.kind = kind
        self.plural = kind + ("es" if kind.endswith("s") else "s")
        self.module = module
        self.decorator = decorator
        self.classes = classes
        self.functions = classes if functions is None else functions
        self.aliases = {} if aliases is None else aliases
        self.fallback = fallback
        #: the base class of the objects this registry describes (``Loss``,
        #: ``Metric``), declared by the package once it is defined
        self.base = None

    # ------------------------------------------------ registering
    def _tables(self):
        return (self.classes,) if self.functions is self.classes else (self.classes, self.functions)

    def holder(self, name, tables=None):
        """What ``name`` resolves to now in ``tables`` (default: all), as a
        name or an alias; None when it is free."""
        target = self.aliases.get(name)
        for table in tables or self._tables():
            if name in table:
                return table[name]
            if target in table:
                return table[target]
        return None

    def claim(self, name, obj, *, tables=None, override=False):
        """Check that ``obj`` may be registered as ``name``; True when it is
        the very same object already there (nothing to do)."""
        held = self.holder(name, tables)
        if held is None or override or same_definition(held, obj):
            return held is not None and same_object(held, obj)
        if same_object(held, obj):
            return True
        how = "" if name not in self.aliases else f" (an alias of {self.aliases[name]!r})"
        raise ValueError(
            f"cannot register {describe_holder(obj)} as {self.kind} {name!r}: that name{how} is held by "
            f"{describe_holder(held)}. Choose another name, or pass override=True to replace it."
        )

    def register(self, name, obj, *, aliases=(), table=None, tables=None, override=False):
        """Register ``obj`` as ``name`` in ``table`` (default: the class
        table) and as ``aliases``, under the closed rule (module docstring):
        every name is checked before anything changes. ``tables`` are those a
        taken name counts in (default: all). Returns the registered object:
        the one already there when ``obj`` is that very object again."""
        table = self.classes if table is None else table
        checked = tables or self._tables()
        aliases = [alias for alias in aliases if alias != name]
        unchanged = [self.claim(key, obj, tables=checked, override=override) for key in (name, *aliases)]
        if unchanged[0]:
            obj = self.holder(name, checked)
        else:
            self.aliases.pop(name, None)  # a replaced alias: the name itself now resolves
            table[name] = obj
        for alias, same in zip(aliases, unchanged[1:], strict=True):
            if not same:  # a name given up (override, or a redefinition) becomes the alias
                for other in self._tables():
                    other.pop(alias, None)
            self.aliases[alias] = name
        return obj

    # ------------------------------------------------ reading
    def names(self):
        """Every registered name and alias."""
        found = set(self.aliases)
        for table in self._tables():
            found.update(table)
        return sorted(found)

    def _key(self, name):
        """``name`` with aliases followed (an override may chain them)."""
        seen = set()
        while name in self.aliases and name not in seen:
            seen.add(name)
            name = self.aliases[name]
        return name

    def unknown(self, name, what=None):
        """The ValueError for a name nothing is registered as."""
        close = difflib.get_close_matches(str(name), self.names(), n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return ValueError(f"unknown {what or self.kind} {name!r}.{hint} Registered names: {', '.join(self.names())}.")

    def find(self, name, table):
        """The entry of ``table`` registered as ``name`` or an alias of it, or None."""
        return table.get(self._key(name)) if isinstance(name, str) else None

    def lookup(self, name):
        """The class or function registered as ``name`` (or an alias)."""
        for table in self._tables():
            found = self.find(name, table)
            if found is not None:
                return found
        raise self.unknown(name)

    def name_of(self, obj, table=None):
        """The name ``obj`` is registered under (in ``table``, default all), or None."""
        for entries in (table,) if table is not None else self._tables():
            for name, registered in entries.items():
                if registered is obj:
                    return name
        return None

    def resolve_class(self, name):
        """The entry of the class table registered as ``name`` (for losses,
        whose one table holds both, a function is an answer too)."""
        found = self.find(name, self.classes)
        if found is None:
            raise self.unknown(name, f"{self.kind} class")
        return found

    def resolve_function(self, name):
        """The function registered as ``name``, here or in :attr:`fallback`."""
        found = self.find(name, self.functions)
        if found is None and self.fallback is not None and isinstance(name, str):
            found = self.fallback.find(name, self.fallback.functions)
        if found is None:
            raise self.unknown(name, f"{self.kind} function")
        if isinstance(found, type):
            raise ValueError(f"{name!r} names a {self.kind} class, not a {self.kind} function.")
        return found

    def function_name(self, fn):
        """The registered name of function ``fn``, here or in :attr:`fallback`."""
        name = self.name_of(fn, self.functions)
        if name is None and self.fallback is not None:
            name = self.fallback.name_of(fn, self.fallback.functions)
        return name

    def is_class(self, obj):
        return isinstance(obj, type) and (self.base is None or issubclass(obj, self.base))

    def is_instance(self, obj):
        if self.base is not None:
            return isinstance(obj, self.base)
        return not isinstance(obj, type) and self.name_of(type(obj), self.classes) is not None

    # ------------------------------------------------ Keras-style get / serialize / deserialize
    def get(self, identifier):
        """A name or alias (a class name gives a fresh instance, a function
        name the function), a config dict, an object of :attr:`base` or any
        callable (itself), a class (an instance); None gives None."""
        if identifier is None:
            return None
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        obj = self.lookup(identifier) if isinstance(identifier, str) else identifier
        if self.is_class(obj):
            return obj()
        if callable(obj) and not isinstance(obj, type):
            return obj
        raise ValueError(
            f"cannot interpret {identifier!r} as a {self.kind}. Accepted: a registered {self.kind} name or alias, "
            f"a config dict as {self.module}.serialize produces, a {self.kind} object or class, or a callable."
        )

    def serialize(self, obj):
        """``{"module", "class_name", "config", "registered_name"}`` as Keras
        writes it: an object's registered class name and its ``get_config()``,
        or ``class_name="function"`` and the registered name for a function.
        Raises for anything :meth:`deserialize` could not rebuild."""
        if obj is None or isinstance(obj, str):
            return obj
        if self.is_instance(obj):
            return self._serialize_object(obj)
        name = self.function_name(obj) if callable(obj) else None
        if name is None:
            raise ValueError(
                f"cannot serialize {obj!r}: {getattr(obj, '__name__', type(obj).__name__)!r} is not a registered "
                f"{self.kind}. Register it with {self.decorator}('name') so that it can be read back."
            )
        return {"module": self.module, "class_name": FUNCTION, "config": name, "registered_name": FUNCTION}

    def _serialize_object(self, obj):
        name = self.name_of(type(obj), self.classes)
        if name is None:
            raise ValueError(
                f"cannot serialize {obj!r}: its class {type(obj).__qualname__} is not registered. "
                f"Decorate it with {self.decorator}."
            )
        config = dict(obj.get_config())
        for key, value in config.items():
            if callable(value):
                raise ValueError(
                    f"cannot serialize {obj!r}: option {key!r} is the unregistered callable {value!r}. "
                    f"Register it with {self.decorator} (or @lossbridge.register_loss)."
                )
        return {"module": self.module, "class_name": name, "config": config, "registered_name": name}

    def deserialize(self, config):
        """The object or function a :meth:`serialize` (or Keras) config dict
        describes. ``module`` and ``registered_name`` are never imported; a
        ``registered_name`` counts only when it is a registered name."""
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(
                f"cannot deserialize {config!r}: expected a {self.kind} name or a dict with 'class_name' and "
                f"'config' as {self.module}.serialize or keras.{self.plural}.serialize produce."
            )
        class_name = config["class_name"]
        if class_name == FUNCTION:
            return self.closed(self.resolve_function, config.get("config"))
        registered = config.get("registered_name")
        known = self.find(registered, self.classes) is not None
        obj = self.closed(self.resolve_class, registered if known else class_name)
        if not isinstance(obj, type):
            return obj  # a function named by class_name: it has no options to apply
        options = config.get("config") or {}
        if not isinstance(options, dict):
            raise ValueError(f"the 'config' of {class_name!r} must be a dict of options; received {options!r}.")
        try:
            return obj.from_config(dict(options))
        except TypeError as error:
            raise ValueError(f"cannot rebuild {class_name!r} from config {options!r}: {error}") from error

    def closed(self, resolve, name):
        """``resolve(name)``, with a deserialisation error that says why only
        registered names resolve."""
        if not isinstance(name, str):
            raise ValueError(f"a {self.kind} is named by a string in a config; received {name!r}.")
        try:
            return resolve(name)
        except ValueError as error:
            raise ValueError(
                f"{error} Deserialisation resolves registered names only; module paths are never imported. "
                f"Register custom {self.plural} with {self.decorator}."
            ) from None
