"""Noise sites: trace a model, classify its operations, place noise after each site.

``classify`` decides which operations are sites, ``trace`` finds them in a ``torch.fx``
graph and places noise modules there, ``model`` holds :class:`NoisyModel` and site
selection, ``inject`` is the entry point (with the forward-hooks fallback).
"""

from __future__ import annotations

from noisewalk.sites.classify import OP_TYPES, module_op, register_site_module
from noisewalk.sites.inject import inject
from noisewalk.sites.model import NoisyModel, Site, SiteSelector, select_sites

__all__ = [
    "OP_TYPES",
    "NoisyModel",
    "Site",
    "SiteSelector",
    "inject",
    "module_op",
    "register_site_module",
    "select_sites",
]
