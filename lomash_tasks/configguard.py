"""Invoke's own config loading, made to fail the way every task does: one clear paragraph.

`inv` reads the runtime file (`inv -f FILE`) and the `INVOKE_*` variables itself, before any task
runs. Left alone, a typo there ends in a Python traceback (`INVOKE_DB_JOBS=abc` raises
ValueError while casting to the default's type; a YAML syntax error raises the parser's error)
or is silently ignored (`inv -f` naming a file that does not exist). `install()` wraps the three
places so each becomes a `UserError` naming the variable or the file and what to do; Invoke
prints it and exits 1. It is installed when `lomash_tasks.context` is imported, which every
namespace module does while `inv` loads the collection, before the config is completed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from lomash_tasks import values
from lomash_tasks.errors import UserError

_INSTALLED = False
SUFFIXES = (".yaml", ".yml", ".json", ".py")


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    from invoke.config import Config
    from invoke.env import Environment

    original_set = Environment._path_set
    original_runtime = Config.load_runtime
    original_json = Config._load_json

    def _path_set(self: Environment, key_path: Sequence[str], value: str) -> None:
        try:
            if isinstance(_old(self, key_path), bool):  # Invoke's own cast takes "no" as True
                value = "1" if values.boolean(value, env_name("INVOKE_", key_path)) else "0"
            original_set(self, key_path, value)
        except Exception as err:
            raise UserError(
                env_message(self._prefix or "", key_path, value, _old(self, key_path), err)
            ) from None

    def load_runtime(self: Config, merge: bool = True) -> None:
        path = getattr(self, "_runtime_path", None)
        if path:
            check_runtime_file(str(path))
        original_runtime(self, merge=merge)

    def _load_yaml(self: Config, path: Any) -> Any:
        return load_yaml(path)

    def _load_json(self: Config, path: Any) -> Any:
        try:
            data = original_json(self, path)
        except OSError:
            raise
        except ValueError as err:
            raise UserError(
                f"{path} is not valid JSON: {err}. Fix the file (or leave it out) and run again."
            ) from None
        return _mapping(path, data)

    original_merge = Config.merge

    def merge(self: Config) -> None:
        from invoke.config import AmbiguousMergeError

        try:
            original_merge(self)
        except AmbiguousMergeError:
            raise UserError(ambiguous_message(self)) from None

    Config.merge = merge  # type: ignore[method-assign]
    _mask_invoke_errors()
    Environment._path_set = _path_set  # type: ignore[method-assign]
    # `services.auth-service.port` is INVOKE_SERVICES_AUTH_SERVICE_PORT: a shell cannot export
    # a name with '-' in it, so a key's '-' is '_' in its variable's name.
    Environment._to_env_var = lambda self, key_path: env_name("", list(key_path))  # type: ignore[method-assign]
    Config.load_runtime = load_runtime  # type: ignore[method-assign]
    Config._load_yaml = _load_yaml  # type: ignore[method-assign]
    Config._load_yml = _load_yaml
    Config._load_json = _load_json  # type: ignore[method-assign]
    _INSTALLED = True


def load_yaml(path: Any) -> Any:
    """A YAML config file as Invoke reads it, but strict: a key written twice in one mapping
    (the second `services:` silently replacing the first) is an error naming both lines."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Strict(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if getattr(key_node, "tag", "") == "tag:yaml.org,2002:merge":
                    continue
                key = getattr(key_node, "value", None)
                line = key_node.start_mark.line + 1
                if isinstance(key, str) and key in seen:
                    raise UserError(
                        f"{path}: the key '{key}' is written twice in one mapping "
                        f"(lines {seen[key]} and {line}); YAML keeps only the "
                        f"last, so the first would be silently ignored. Merge them "
                        f"into one and run again."
                    )
                seen.setdefault(key, line)
            return super().construct_mapping(node, deep=deep)

    with open(path, encoding="utf-8") as handle:
        try:
            data = yaml.load(handle, Loader=Strict)
        except UserError:
            raise
        except Exception as err:
            raise UserError(
                f"{path} is not valid YAML: {_first_line(err)}. Fix the file "
                f"(or leave it out) and run again."
            ) from None
    return _mapping(path, data)


def _mask_invoke_errors() -> None:
    """What Invoke prints to stderr itself (an Exit's message, a parse error naming a flag's
    value) goes through the same cleaning as the suite's own messages: secrets masked. What it
    prints to a pipe whose reader has gone (`inv --list | head`) ends the run quietly, as the
    suite's own output does."""
    import builtins
    import sys

    import invoke.program

    def _print(*args: Any, **kwargs: Any) -> None:
        if kwargs.get("file") is sys.stderr:
            from lomash_tasks.errors import clean

            args = tuple(clean(str(a)) for a in args)
        try:
            builtins.print(*args, **kwargs)
        except BrokenPipeError:
            from lomash_tasks.console import closed

            closed(kwargs.get("file") or sys.stdout)

    invoke.program.print = _print  # type: ignore[attr-defined]


def _conflict(
    base: Any, over: Any, path: tuple[str, ...] = ()
) -> tuple[tuple[str, ...], Any, Any] | None:
    """The first key where merging `over` onto `base` puts a mapping against a non-mapping."""
    if not isinstance(base, dict) or not isinstance(over, dict):
        return None
    for key, value in over.items():
        if key not in base:
            continue
        old = base[key]
        if isinstance(old, dict) != isinstance(value, dict):
            return (*path, str(key)), old, value
        found = _conflict(old, value, (*path, str(key)))
        if found:
            return found
    return None


def ambiguous_message(config: Any) -> str:
    """Name the file (or variable layer) and key that Invoke could not merge."""
    from invoke.config import copy_dict, merge_dicts

    layers = [
        ("the suite's defaults", getattr(config, "_defaults", {})),
        ("the collection's defaults", getattr(config, "_collection", {})),
    ]
    for name in ("system", "user", "project"):
        if getattr(config, f"_{name}_found", None):
            layers.append(
                (str(getattr(config, f"_{name}_path", name)), getattr(config, f"_{name}", {}))
            )
    layers.append(("the INVOKE_* environment variables", getattr(config, "_env", {})))
    if getattr(config, "_runtime_found", None):
        layers.append(
            (str(getattr(config, "_runtime_path", "-f file")), getattr(config, "_runtime", {}))
        )
    layers.append(("the command line", getattr(config, "_overrides", {})))
    merged: dict = {}
    for source, data in layers:
        found = _conflict(merged, data or {})
        if found:
            path, old, new = found
            key = ".".join(path)
            if new is None:
                what = (
                    f"sets '{key}' to nothing (an empty key, or one whose children are all "
                    f"commented out), where a mapping of settings belongs"
                )
            elif isinstance(new, dict):
                what = f"makes '{key}' a mapping, where {old!r} belongs"
            else:
                what = f"sets '{key}' to {new!r}, where a mapping of settings belongs"
            return f"{source} {what}. Give it its keys, or delete the line, then run again."
        try:
            merge_dicts(merged, copy_dict(data or {}))
        except Exception:
            break
    return (
        "Invoke could not merge the config files (a key is a mapping in one and a plain "
        "value in another): check invoke.yaml and any -f file for an empty key."
    )


def env_name(prefix: str, key_path: Sequence[str]) -> str:
    """The environment variable of a config key path (without Invoke's INVOKE_ prefix)."""
    return prefix + "_".join(key_path).upper().replace("-", "_")


def env_message(prefix: str, key_path: Sequence[str], value: str, old: Any, err: Exception) -> str:
    name = env_name(prefix, key_path)
    key = ".".join(key_path)
    if isinstance(old, (list, tuple, dict)):
        want = "a list, which an environment variable cannot set (use an `inv -f FILE` instead)"
    elif isinstance(old, bool):
        want = f"true or false ({values.BOOLEAN_WORDS}; any case)"
    elif isinstance(old, int):
        want = "a whole number"
    elif isinstance(old, float):
        want = "a number"
    else:
        want = f"a {type(old).__name__}"
    shown = value if len(value) <= 40 else value[:39] + "…"
    return (
        f"The environment variable {name}={shown!r} cannot be used: config key '{key}' "
        f"takes {want} (its default is {old!r}). Fix or unset it (`unset {name}`) and run "
        f"again."
    )


def check_runtime_file(path: str) -> None:
    full = os.path.expanduser(path)
    suffix = os.path.splitext(full)[1].lower()
    if suffix not in SUFFIXES:
        raise UserError(
            f"The config file given with -f ({path}) must end in "
            f"{', '.join(SUFFIXES)}: Invoke picks the parser by the suffix. "
            f"Rename it and run again."
        )
    if os.path.isdir(full):
        raise UserError(
            f"The config file given with -f ({path}) is a folder, not a file. "
            f"Give the path of a YAML file."
        )
    if not os.path.isfile(full):
        raise UserError(
            f"The config file given with -f ({path}) does not exist. Check the "
            f"path (it is taken from the current folder, {os.getcwd()}), or leave "
            f"-f out."
        )


def _mapping(path: Any, data: Any) -> Any:
    if data is None or isinstance(data, dict):
        return data or {}
    raise UserError(
        f"{path} must hold a mapping of config keys (e.g. `infra: {{postgres: "
        f"{{port: 55432}}}}`), not a {type(data).__name__}. Fix the file and run again."
    )


def _old(env: Any, key_path: Sequence[str]) -> Any:
    try:
        return env._path_get(key_path)
    except Exception:
        return None


def _first_line(err: Exception) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 300 else text[:299] + "…"
