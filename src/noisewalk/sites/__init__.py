"""Noise sites: trace a model, classify its operations, place noise after each site."""

from __future__ import annotations

from noisewalk.sites.inject import OP_TYPES, NoisyModel, Site, SiteSelector, inject, module_op, register_site_module

__all__ = ["OP_TYPES", "NoisyModel", "Site", "SiteSelector", "inject", "module_op", "register_site_module"]
