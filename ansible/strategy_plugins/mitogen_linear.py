"""Mitogen's linear strategy: an opt-in accelerator, never the default.

Ansible's own strategy (linear) is what `ansible-playbook` uses with the project's
ansible.cfg, on your servers as anywhere. To opt in for a run, name this strategy:

    ANSIBLE_STRATEGY=mitogen_linear ansible-playbook -i inventories/<env> ansible/site.yml

(or `strategy = mitogen_linear` in an ansible.cfg of your own, or `strategy: mitogen_linear`
on a play). `make lab` and CI's Molecule runs set ANSIBLE_STRATEGY=mitogen_linear (the
Makefile); the Molecule scenario `common` pins Ansible's linear, so that the default path is
tested too. ansible.cfg lists this directory (strategy_plugins) so that the name resolves;
ansible-core prints its deprecation warning for third-party strategy plugins only when one is
used, so a run that does not opt in prints none.

Why opt in: Ansible's own strategy starts a process on the host for every task, and, through
podman's connection, which cannot pipeline, three `podman exec` (a temporary directory, the
module, its removal). Mitogen (the `mitogen` package, pinned in constraints.txt) keeps one
Python per host for the whole run and sends it each module: the lab's second converge goes
from minutes to about a minute. Its strategy replaces the `podman`, `ssh` and `local`
connections by its own.

What it costs: Mitogen and this module use Ansible's private internals (its strategy, plugin
loaders and collection listing), which ansible-core may change in any release, and
ansible-core says it will drop third-party strategies one day; when either breaks, leave the
variable unset and everything runs as before, only slower. Mitogen's Python interpreter
discovery fails on some connections ("EOF on stream"): give hosts
`ansible_python_interpreter` (the lab's inventory sets /usr/bin/python3).

One exception, play by play: a play with an async task runs under Ansible's linear strategy.
Mitogen runs an async task in a fork of its threaded interpreter, where a module can wait
forever on a lock that another thread held at the fork (seen with Molecule's podman driver,
which creates its containers with async tasks). None of the project's own plays has one.

Before each play, what every task's worker would load again is loaded here, once: Ansible
forks a worker for every task on every host, and the workers inherit what this process has
loaded. That is the filter and test plugins of Ansible and of the playbook's directories
(without it, each worker imported them again, passlib among them: a quarter of the lab's
second converge on these 2 cores), and the installed collections' packages, which Mitogen
imports in a worker that runs a collection's module (about 0.1 s each time). And the
module directories that Mitogen's planner lists, in each worker, to find the task's module
(listing them and testing each file: about a tenth of a simple task's time).
"""

from __future__ import annotations

from typing import Any

import ansible_mitogen.affinity
from ansible.collections.list import list_collection_dirs
from ansible.playbook.block import Block
from ansible.plugins.loader import filter_loader, module_loader, test_loader
from ansible.plugins.strategy.linear import StrategyModule as Linear
from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as Mitogen

# No CPU pinning. Mitogen pins Ansible's processes to CPUs, and on a controller of 2 or 3 CPUs
# it keeps one for its multiplexer and pins every other process, and everything they start, to
# the rest: the lab's containers, started through podman from a pinned process, then ran every
# service on one core of two (spamd's five children shared it). Its base policy pins nothing.
ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()

__all__ = ["StrategyModule"]


def has_async(items: list[Any]) -> bool:
    """Whether any task of these blocks and tasks, nested at any depth, is async."""
    for item in items:
        if isinstance(item, Block):
            if has_async(item.block) or has_async(item.rescue) or has_async(item.always):
                return True
        elif getattr(item, "async_val", 0):
            return True
    return False


class StrategyModule(Mitogen):  # type: ignore[misc]
    """Mitogen's linear strategy, or Ansible's for a play with an async task."""

    def run(self, iterator: Any, play_context: Any, result: int = 0) -> Any:
        if has_async(iterator._blocks):
            return Linear.run(self, iterator, play_context)
        # Cached by the loaders until a plugin directory is added, which empties their caches.
        for loader in (filter_loader, test_loader):
            for _plugin in loader.all():
                pass
        for _collection in list_collection_dirs():
            pass
        # One lookup lists the module directories up to Ansible's own and caches every module
        # found there: each worker's lookups of a built-in module are then cache hits.
        module_loader.find_plugin("ansible.legacy.command", "")
        return super().run(iterator, play_context, result)
