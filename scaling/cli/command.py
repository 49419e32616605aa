"""The commands' help placeholders: ``DATA...`` for the input files, nothing after an on/off flag.

Typer writes a required argument as ``{data}...`` in the usage line and ``<bool>`` after every
flag (``--svg``, ``--help``); :class:`Command` writes the argument's metavar (``DATA...``) and
leaves flags without a placeholder.  Every ``scaling`` command is registered with ``cls=Command``.
"""

from __future__ import annotations

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

__all__ = ["Command", "Group", "PathsArgument", "plain_placeholders", "usage_piece"]


def usage_piece(argument: TyperArgument) -> str:
    """An argument as the usage line shows it: its metavar (else its name in capitals, ``...`` if it
    takes several values), in brackets when optional."""
    name = argument.metavar or (str(argument.name).upper() + ("..." if argument.nargs != 1 else ""))
    return name if argument.required else f"[{name}]"


class PathsArgument(TyperArgument):
    """An argument taking several paths: its type shown as ``<path>...`` (Typer shows ``<list[Path]>``)."""

    def display_type_rich(self, ctx: typer.Context) -> str:
        """``<path>...``."""
        return "<path>..."


class Command(TyperCommand):
    """A Typer command whose help shows ``DATA...`` for its arguments and no ``<bool>`` after a flag."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        """``[OPTIONS]`` then every argument as :func:`usage_piece` writes it."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            pieces += [usage_piece(param)] if isinstance(param, TyperArgument) else param.get_usage_pieces(ctx)
        return pieces

    def get_params(self, ctx: typer.Context) -> list:
        """The parameters, with :func:`plain_placeholders`."""
        return plain_placeholders(super().get_params(ctx))


class Group(TyperGroup):
    """The ``scaling`` command group: its flags (``--version``, ``--help``) without ``<bool>``."""

    def get_params(self, ctx: typer.Context) -> list:
        """The parameters, with :func:`plain_placeholders`."""
        return plain_placeholders(super().get_params(ctx))


def plain_placeholders(params: list) -> list:
    """Give flags (``--help`` included) an empty placeholder and show path lists as ``<path>...``; return ``params``."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        elif type(param) is TyperArgument and param.nargs != 1 and param.bare_type() == "list[Path]":
            param.__class__ = PathsArgument  # same state, another help label
    return params
