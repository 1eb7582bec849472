"""A model with noise at its sites: :class:`Site`, choosing sites, :class:`NoisyModel`."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from noisewalk.errors import InvalidParameterError
from noisewalk.noise import Noise
from noisewalk.sites.classify import OP_TYPES
from noisewalk.validate import check_positive_int, check_sigma, unknown_name

SiteSelector = int | str | Sequence[int | str] | None


@dataclass(frozen=True)
class Site:
    """One place where noise is injected: the output of one operation."""

    index: int
    name: str
    op: str
    target: str
    """What computes the value: a module path with its class, or a function name."""


def select_sites(sites: Sequence[Site], selector: SiteSelector | Site = None) -> list[int]:
    """Indices of the ``sites`` chosen by ``selector``.

    ``None`` chooses all. Otherwise an int (index), a site name, an operation type
    from ``OP_TYPES``, a glob pattern over names (``"layer1.*"``), a :class:`Site`,
    or a list mixing them. A name, type or pattern that matches nothing is an error
    that lists the valid names.
    """
    if selector is None:
        return list(range(len(sites)))
    items = [selector] if isinstance(selector, (int, str, Site)) else list(selector)
    names = {s.name: s.index for s in sites}
    valid = list(names) + [op for op in OP_TYPES if any(s.op == op for s in sites)]
    chosen: set[int] = set()
    for item in items:
        if isinstance(item, Site):
            item = item.index
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise InvalidParameterError(f"a site is chosen by index, name or operation type; got {item!r}")
        if isinstance(item, int):
            if not -len(sites) <= item < len(sites):
                raise InvalidParameterError(
                    f"site index {item} is out of range; this model has {len(sites)} sites (0..{len(sites) - 1})"
                )
            chosen.add(item % len(sites))
        elif item in names:
            chosen.add(names[item])
        elif item in OP_TYPES:
            matched = [s.index for s in sites if s.op == item]
            if not matched:
                raise unknown_name("site", item, valid)
            chosen.update(matched)
        elif any(c in item for c in "*?["):
            matched = [s.index for s in sites if fnmatch.fnmatchcase(s.name, item)]
            if not matched:
                raise unknown_name("site", item, valid)
            chosen.update(matched)
        else:
            raise unknown_name("site", item, valid)
    return sorted(chosen)


# --- the injected model -----------------------------------------------------------------


class NoisyModel(nn.Module):
    """A model with a noise module at each site.

    ``sites`` lists the sites; ``set_sigma`` sets the noise level globally, for one
    site, or for any subset chosen by name, index, operation type or glob pattern.
    ``noisewalk.save`` / ``noisewalk.load`` write and read one to a file;
    :meth:`plain_state_dict` gives the weights without noise modules, keyed as the
    model that was injected.
    """

    def __init__(
        self,
        module: nn.Module,
        sites: list[Site],
        noises: nn.ModuleList,
        method: str,
        *,
        base: nn.Module | None = None,
        injection: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.module = module
        self.method = method
        self._sites = tuple(sites)
        if method == "hooks":
            self.noise_sites = noises  # hooks hold these modules
        else:
            object.__setattr__(self, "_noises", noises)  # already a submodule of the graph
        # the model that was injected: it shares its layers with ``module`` (the traced
        # graph keeps the same submodules), kept out of the submodules so that the
        # state dict lists each weight once
        object.__setattr__(self, "_base", base)
        self.injection = dict(injection or {})
        """How ``inject`` made this model (noise type, options, excluded sites, the base
        model's registry recipe where known); ``noisewalk.save`` writes it."""

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    @property
    def sites(self) -> tuple[Site, ...]:
        return self._sites

    @property
    def noises(self) -> nn.ModuleList:
        """The noise modules, one per site, in site order."""
        return self.noise_sites if self.method == "hooks" else self._noises

    def noise_at(self, site: int | str) -> Noise:
        """The noise module of one site."""
        chosen = self.select(site)
        if len(chosen) != 1:
            raise InvalidParameterError(f"noise_at needs exactly one site; {site!r} chooses {len(chosen)}")
        return self.noises[chosen[0]]

    def select(self, sites: SiteSelector | Site = None) -> list[int]:
        """Indices of the sites chosen by ``sites`` (see :func:`select_sites`)."""
        return select_sites(self._sites, sites)

    # -- noise levels --
    def set_sigma(
        self, sigma: float | Tensor, sites: SiteSelector = None, *, others: float | None = None
    ) -> NoisyModel:
        """Set the noise level at the chosen sites (all by default).

        ``others``, when given, is the level set at every site not chosen; walking noise
        is ``set_sigma(s, sites=i, others=0.0)``. ``sigma`` may be a 1-D tensor with one
        level per sample of the batch.
        """
        sigma = check_sigma("sigma", sigma)
        chosen = set(self.select(sites))
        if others is not None:
            others = check_sigma("others", others)
        for i, noise in enumerate(self.noises):
            if i in chosen:
                noise.sigma = sigma
            elif others is not None:
                noise.sigma = others
        return self

    @property
    def sigmas(self) -> dict[str, float | Tensor]:
        """The current noise level of every site, by name."""
        return {s.name: n.sigma for s, n in zip(self._sites, self.noises, strict=True)}

    def walk(self, sigma: float) -> Iterator[Site]:
        """Walking noise: yields each site in turn with only that site at ``sigma``.

        All levels are zero when the iteration ends.
        """
        try:
            for site in self._sites:
                self.set_sigma(sigma, site.index, others=0.0)
                yield site
        finally:
            self.set_sigma(0.0)

    def set_executions(self, executions: int, sites: SiteSelector = None) -> NoisyModel:
        """Repeated execution at the chosen sites (all by default): each noisy operation runs
        ``executions`` times and the outputs are averaged (see :class:`~noisewalk.noise.types.Noise`)."""
        check_positive_int("executions", executions)
        for i in self.select(sites):
            self.noises[i].executions = executions
        return self

    def set_noise_mode(self, *, in_train: bool | None = None, in_eval: bool | None = None) -> NoisyModel:
        """Switch noise on or off in training and in evaluation mode."""
        for noise in self.noises:
            if in_train is not None:
                noise.in_train = in_train
            if in_eval is not None:
                noise.in_eval = in_eval
        return self

    @contextmanager
    def inputs_owned(self) -> Iterator[None]:
        """Within the block, noise at the model's input is added to the input tensor itself.

        For loops whose batches are fresh tensors that nothing else reads afterwards, such
        as those of noisewalk's loaders (``train`` and ``evaluate`` use this): it saves a
        copy of every batch."""
        chosen = [self.noises[s.index] for s in self._sites if s.op == "input"]  # none for token models
        saved = [noise.inplace for noise in chosen]
        for noise in chosen:
            noise.inplace = True
        try:
            yield
        finally:
            for noise, inplace in zip(chosen, saved, strict=True):
                noise.inplace = inplace

    @property
    def base(self) -> nn.Module | None:
        """The model that was injected, sharing its layers with this one (without noise)."""
        return self._base

    def plain_state_dict(self) -> dict[str, Tensor]:
        """The weights without noise modules, keyed as the injected model's own
        ``state_dict``: they load with ``strict=True`` into a fresh instance of the
        original model, without noisewalk (``torch.save`` it, or use
        ``noisewalk.export_weights``)."""
        graphs = [getattr(self.module, k, None) for k in ("train_graph", "eval_graph")]
        if all(isinstance(g, nn.Module) for g in graphs):  # a ModalGraph: one graph per mode
            live = {**graphs[0].state_dict(), **graphs[1].state_dict()}
        else:
            live = self.module.state_dict()
        if self._base is None or self._base is self.module:
            if self.method == "hooks":
                return live
            return {k: v for k, v in live.items() if not k.startswith("noise_sites.")}
        # the graph holds the base model's layers under the same names; a layer that
        # the forward never calls is not in the graph and comes from the base model
        return {k: live.get(k, v) for k, v in self._base.state_dict().items()}

    def site_table(self) -> list[dict[str, Any]]:
        """The sites as plain rows (index, name, op, target, sigma), for printing or JSON."""
        rows = []
        for s, n in zip(self._sites, self.noises, strict=True):
            level = n.sigma if isinstance(n.sigma, float) else "per-sample"
            rows.append({"index": s.index, "name": s.name, "op": s.op, "target": s.target, "sigma": level})
        return rows
